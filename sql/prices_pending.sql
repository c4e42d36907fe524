-- prices_pending: the incoming rows that would change `prices`: new keys and corrections.
-- Rows identical to the stored ones are left out here, so re-ingesting a file writes nothing.
-- Grain: one row per ticker and date (the incoming frame is unique on them).
-- Inputs: `incoming_prices` (a validated Polars frame registered by cae.warehouse.ingest, each row already
--   merged onto its stored day, so a partial row that re-states it compares equal), `prices`.
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
        incoming.open,
        incoming.high,
        incoming.low,
        incoming.close,
        incoming.volume,
        incoming.adj_factor,
        incoming.shares_out,
        stored.ticker is null as is_new,
        (
            stored.open is distinct from incoming.open
            or stored.high is distinct from incoming.high
            or stored.low is distinct from incoming.low
            or stored.close is distinct from incoming.close
            or stored.volume is distinct from incoming.volume
            or stored.adj_factor is distinct from incoming.adj_factor
            or stored.shares_out is distinct from incoming.shares_out
        ) as is_different,
    from incoming
    left join prices as stored
        on stored.ticker = incoming.ticker
        and stored.date = incoming.date
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
from compared
where is_new or is_different;
