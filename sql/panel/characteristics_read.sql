-- characteristics_{freq}: one row per date and ticker in the universe, in [$start, $end]
-- (either bound may be null). Point in time: every column at d was computed from data up to d,
-- except ret_fwd, the target.
select *
from characteristics_{freq}
where is_in_universe
    and ($start is null or date >= $start)
    and ($end is null or date <= $end)
order by date, ticker;
