-- characteristic_sources: one row per frequency, date and characteristic with a choice of
-- input, counting the panel rows whose value used shares outstanding and the volume proxy.
-- characteristic_sources_previous holds the same counts for the panel kept as
-- characteristics_<freq>_previous. Point in time: each count was fixed when its date was built.

-- name: delete_from
-- Drop one frequency's counts from $from_date on (all of them when $from_date is null) before
-- they are recomputed or a user's panel replaces the computed one.
delete from characteristic_sources
where freq = $freq
    and ($from_date is null or date >= $from_date);

-- name: previous_delete
-- Drop one frequency's kept counts before newer ones are kept.
delete from characteristic_sources_previous where freq = $freq;

-- name: keep_previous
-- Keep one frequency's counts with the panel that becomes characteristics_<freq>_previous.
insert into characteristic_sources_previous by name
select * from characteristic_sources where freq = $freq;

-- name: previous_read
-- One frequency's kept counts, read before a restore swaps them.
select * from characteristic_sources_previous where freq = $freq;

-- name: summary
-- One row per characteristic with a choice of input: panel rows (all dates of one frequency)
-- whose value used shares outstanding and the volume proxy.
select
    name,
    sum(n_shares)::bigint as n_shares,
    sum(n_proxy)::bigint as n_proxy,
from characteristic_sources
where freq = $freq
group by name
order by name;
