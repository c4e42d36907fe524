-- Migration 6: daily_returns can start at a floor date, so an incremental panel build reads the
-- sessions its look-back needs instead of all history; panel_state lets a build with nothing
-- new do nothing (issue 13).
-- daily_returns: as in migration 3, one row per ticker and trading date. When the connection
-- has set the variable `daily_returns_floor` (a date; cae.panel.build does, around one build),
-- only sessions from that date on are returned, and what earlier sessions contribute comes from
-- one aggregate per ticker: their count (n_obs goes on from it), the product of their split
-- ratios (cum_factor goes on from it) and their last close (the first returned session's
-- previous close). The rows returned equal those of the full view (cum_factor to rounding).
-- Unset (readers, full builds): every session, exactly as before.
-- Point in time: unchanged; ret at d uses the closes of d and of the ticker's previous
-- session, cum_factor the share ratios of splits on or before d.

create or replace view daily_returns as
with floor as (
    select getvariable('daily_returns_floor')::date as floor_date
),

applied as (
    select
        ticker,
        date,
        ratio,
    from adjustments
    where is_applied
),

before_floor as (
    select
        prices.ticker as ticker,
        count(*) as n_before,
        sum(ln(coalesce(applied.ratio, 1.0))) as log_factor_before,
        arg_max(prices.close, prices.date) as last_close,
    from prices_stitched as prices
    left join applied
        on prices.ticker = applied.ticker
        and prices.date = applied.date
    where prices.date < (select floor_date from floor)
    group by prices.ticker
),

sessions as (
    select
        prices.ticker as ticker,
        prices.date as date,
        prices.open as open,
        prices.high as high,
        prices.low as low,
        prices.close as close,
        prices.volume as volume,
        prices.shares_out as shares_out,
        coalesce(applied.ratio, 1.0) as split_ratio,
        coalesce(
            lag(prices.close) over (
                partition by prices.ticker order by prices.date
                rows between 1 preceding and 1 preceding
            ),
            before_floor.last_close
        ) as prev_close,
        coalesce(before_floor.n_before, 0)
        + row_number() over (partition by prices.ticker order by prices.date) as n_obs,
        coalesce(before_floor.log_factor_before, 0.0) as log_factor_before,
    from prices_stitched as prices
    left join applied
        on prices.ticker = applied.ticker
        and prices.date = applied.date
    left join before_floor
        on prices.ticker = before_floor.ticker
    where (select floor_date from floor) is null
        or prices.date >= (select floor_date from floor)
)

select
    ticker,
    date,
    open,
    high,
    low,
    close,
    volume,
    shares_out,
    split_ratio,
    exp(log_factor_before + sum(ln(split_ratio)) over (
        partition by ticker order by date
        rows between unbounded preceding and current row
    )) as cum_factor,
    close * split_ratio / prev_close - 1 as ret,
    n_obs,
from sessions;

-- panel_state: one row per computed panel key: what its last build read, so a build on the same
-- inputs (a scheduled run with no new data) skips: the data version (ingest batches that
-- changed prices) and a fingerprint of the adjustments and ticker metadata it used.
create table panel_state (
    freq varchar primary key,
    data_version varchar not null,
    inputs varchar not null,
);
