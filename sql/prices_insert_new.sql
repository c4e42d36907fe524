-- prices_insert_new: add the validated rows whose (ticker, date) the warehouse does not hold yet.
-- Grain: one row per ticker and date.
-- Inputs: `incoming_prices` (an Arrow/Polars frame registered by cae.ingest, unique on ticker and
-- date), `prices`; parameters $source and $batch_id.
-- Point in time: stores what the source says for each date; nothing is derived across dates.
with

incoming as (
    select * from incoming_prices
),

new_rows as (
    select incoming.*
    from incoming
    anti join prices
        on prices.ticker = incoming.ticker
        and prices.date = incoming.date
)

insert into prices (
    ticker, date, open, high, low, close, volume, adj_factor, shares_out, source, batch_id,
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
    $source as source,
    $batch_id as batch_id,
from new_rows;
