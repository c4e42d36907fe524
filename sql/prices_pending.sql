-- prices_pending: the incoming rows that would change `prices`: new keys and corrections.
-- Rows identical to the stored ones are left out here, so re-ingesting a file writes nothing.
-- Grain: one row per ticker and date (the incoming frame is unique on them).
-- Inputs: `incoming_prices` (a validated Polars frame registered by cae.warehouse.ingest), `prices`.
-- A row updates only the columns it carries: an empty (null) cell keeps the stored value, so a
-- partial row that re-states a stored day compares equal; a new day without an adjustment
-- factor gets 1.0 (its close is taken as already adjusted).
-- Point in time: compares each (ticker, date) with its own stored row only.
-- One join classifies every row; the insert and the update then read this small(er) table.
create or replace temp table prices_pending as
with

incoming as (
    select * from incoming_prices
),

compared as (
    select
        incoming.ticker,
        incoming.date,
        coalesce(incoming.open, stored.open) as open,
        coalesce(incoming.high, stored.high) as high,
        coalesce(incoming.low, stored.low) as low,
        incoming.close,
        coalesce(incoming.volume, stored.volume) as volume,
        coalesce(incoming.adj_factor, stored.adj_factor, 1.0) as adj_factor,
        coalesce(incoming.shares_out, stored.shares_out) as shares_out,
        stored.ticker is null as is_new,
        stored.open as stored_open,
        stored.high as stored_high,
        stored.low as stored_low,
        stored.close as stored_close,
        stored.volume as stored_volume,
        stored.adj_factor as stored_adj_factor,
        stored.shares_out as stored_shares_out,
    from incoming
    left join prices as stored
        on stored.ticker = incoming.ticker
        and stored.date = incoming.date
),

classified as (
    select
        *,
        (
            stored_open is distinct from open
            or stored_high is distinct from high
            or stored_low is distinct from low
            or stored_close is distinct from close
            or stored_volume is distinct from volume
            or stored_adj_factor is distinct from adj_factor
            or stored_shares_out is distinct from shares_out
        ) as is_different,
    from compared
)

select
    ticker,
    date,
    open,
    high,
    low,
    close,
    volume,
    adj_factor,
    shares_out,
    is_new,
from classified
where is_new or is_different;
