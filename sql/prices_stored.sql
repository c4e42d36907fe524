-- prices_stored: the stored rows of the (ticker, date) keys a batch re-states, so that its
-- partial rows can be merged onto them and validated as whole days before anything is written.
-- Grain: one row per ticker and date.
-- Inputs: `incoming_keys(ticker, date)` (registered by cae.ingest), `prices`.
-- Point in time: each key reads its own stored row only.
with

incoming as (
    select distinct ticker, date from incoming_keys
)

select
    stored.ticker,
    stored.date,
    stored.open,
    stored.high,
    stored.low,
    stored.volume,
    stored.adj_factor,
    stored.shares_out,
from prices as stored
semi join incoming
    on stored.ticker = incoming.ticker
    and stored.date = incoming.date;
