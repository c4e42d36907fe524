-- adjustments (source 'detected'): one row per ticker and date whose raw prices jump by a common
-- split ratio. Inputs: prices_stitched, $ratios (candidate new-shares-per-old ratios),
-- $tolerance (relative), $volume_sessions (sessions in the volume median before the day).
-- Evidence, all three required: the close-to-close ratio is within tolerance of 1/ratio, the
-- open gaps by the same 1/ratio (a split moves the open too; news within the day does not), and
-- the day's share volume over the median of the sessions before is nearer `ratio` than 1 on a
-- log scale (a split multiplies the share count; a takeover multiplies the trading instead).
-- Point in time: every piece of evidence for day d is known at the close of d, so a split is
-- adjusted from its own day on and later prices can never change an earlier return.
-- Incremental: only days from $since on are detected (null: all), reading sessions from $floor
-- on (null: all); the caller picks a $floor that leaves every ticker its look-back.
insert into adjustments
with ordered as (
    select
        ticker,
        date,
        open,
        close,
        volume,
        lag(close) over (partition by ticker order by date) as prev_close,
        median(volume) over (
            partition by ticker order by date
            rows between $volume_sessions preceding and 1 preceding
        ) as volume_before,
        volume as volume_after,
    from prices_stitched
    where $floor is null or date >= $floor
),

ratios as (
    select unnest($ratios::double[]) as ratio
),

matched as (
    select
        ordered.ticker as ticker,
        ordered.date as date,
        ratios.ratio as ratio,
        ordered.close / ordered.prev_close as close_ratio,
        ordered.open / ordered.prev_close as open_ratio,
        ordered.volume_after / ordered.volume_before as volume_ratio,
    from ordered
    cross join ratios
    where ($since is null or ordered.date >= $since)
        and ordered.prev_close > 0
        and ordered.volume_before > 0
        and ordered.volume_after > 0
        and abs(ordered.close / ordered.prev_close * ratios.ratio - 1) <= $tolerance
        and abs(ordered.open / ordered.prev_close * ratios.ratio - 1) <= $tolerance
        and abs(ln(ordered.volume_after / ordered.volume_before) - ln(ratios.ratio))
        < abs(ln(ordered.volume_after / ordered.volume_before))
)

select
    ticker,
    date,
    case when ratio > 1 then 'split' else 'reverse_split' end as kind,
    ratio,
    close_ratio,
    open_ratio,
    volume_ratio,
    'detected' as source,
    true as is_applied,
    printf(
        'close x%.4f, open x%.4f vs expected x%.4f; volume x%.2f of the prior median vs expected x%.2f',
        close_ratio, open_ratio, 1 / ratio, volume_ratio, ratio
    ) as evidence,
from matched
qualify row_number() over (
    partition by ticker, date order by abs(close_ratio * ratio - 1)
) = 1;
