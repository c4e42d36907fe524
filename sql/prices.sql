-- prices: one row per ticker and trading date, raw (not split-adjusted) as the source gave it.
-- A batch merges into it through prices_pending (prices_pending.sql): read the stored rows it
-- re-states, update the changed ones, insert the new ones, drop the scratch table.
-- Point in time: every statement reads or writes each (ticker, date) from its own row only;
-- nothing is derived across dates.

-- name: stored
-- The stored rows of the (ticker, date) keys a batch re-states, so that its partial rows can be
-- merged onto them and validated as whole days before anything is written. One row per ticker
-- and date. Input: `incoming_keys(ticker, date)` (registered by cae.warehouse.ingest).
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

-- name: update_changed
-- Overwrite stored rows whose values the batch corrects ($source, $batch_id); returns the count.
-- Identical rows never reach `prices_pending`, so they keep their original batch_id.
update prices
set
    open = pending.open,
    high = pending.high,
    low = pending.low,
    close = pending.close,
    volume = pending.volume,
    adj_factor = pending.adj_factor,
    shares_out = pending.shares_out,
    source = $source,
    batch_id = $batch_id,
from prices_pending as pending
where
    not pending.is_new
    and prices.ticker = pending.ticker
    and prices.date = pending.date;

-- name: insert_new
-- Add the batch's rows whose (ticker, date) the warehouse does not hold yet ($source,
-- $batch_id); returns the count.
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

-- name: pending_drop
-- Remove the batch's scratch table once its rows are merged.
drop table if exists prices_pending;

-- name: date_range
-- The first and last trading dates in the warehouse: one row (nulls when empty).
select min(date) as first_date, max(date) as last_date from prices;

-- name: stitched_tickers
-- The stitched tickers (prices_stitched: temporary tickers folded onto their root), sorted:
-- the panel build processes them in chunks.
select distinct ticker from prices_stitched order by ticker;

-- name: short_before
-- Tickers trading from $since on that have older sessions before $floor but fewer than
-- $sessions sessions in [$floor, $since): a computation reading sessions from $floor on would
-- miss part of their look-back, so the caller reads all history instead.
with spans as (
    select
        ticker,
        min(date) as first_date,
        max(date) as last_date,
        count(*) filter (where date >= $floor and date < $since) as n_window,
    from prices_stitched
    group by ticker
)

select count(*) as n_short,
from spans
where last_date >= $since
    and first_date < $floor
    and n_window < $sessions;
