-- adjustments (source 'adj_close'): one row per ticker and date where the vendor's adjustment
-- factor (adj_close / close) changes. Inputs: prices_stitched.
-- ratio = adj_factor(d) / adj_factor(d - 1): the factor that turns the raw close-to-close ratio
-- into the adjusted return on d (2 on a 2:1 split day; slightly above 1 on an ex-dividend day).
-- Point in time: the row for d uses the factors of d and the session before it only.
-- Incremental: only days from $since on (null: all), reading sessions from $floor on.
insert into adjustments
with ordered as (
    select
        ticker,
        date,
        close / lag(close) over (partition by ticker order by date) as close_ratio,
        adj_factor / lag(adj_factor) over (partition by ticker order by date) as ratio,
    from prices_stitched
    where $floor is null or date >= $floor
)

select
    ticker,
    date,
    'vendor_factor' as kind,
    ratio,
    close_ratio,
    null as open_ratio,
    null as volume_ratio,
    'adj_close' as source,
    true as is_applied,
    printf('adj_factor changed by x%.6f', ratio) as evidence,
from ordered
where abs(ratio - 1) > 1e-9
    and ($since is null or date >= $since);
