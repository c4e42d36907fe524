-- prices_insert_new: add the batch's rows whose (ticker, date) the warehouse does not hold yet.
-- Grain: one row per ticker and date.
-- Inputs: `prices_pending` (sql/prices_pending.sql); parameters $source and $batch_id.
-- Point in time: stores what the source says for each date; nothing is derived across dates.
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
from prices_pending
where is_new;
