-- prices_update_changed: overwrite stored rows whose values the batch corrects.
-- Identical rows never reach `prices_pending`, so they keep their original batch_id.
-- Grain: one row per ticker and date.
-- Inputs: `prices_pending` (sql/prices_pending.sql), `prices`; parameters $source, $batch_id.
-- Point in time: a correction replaces the stored value for that date only.
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
