-- prices_update_changed: overwrite stored rows whose values differ from the incoming ones
-- (a correction); identical rows are left alone, so re-ingesting a file changes nothing.
-- Grain: one row per ticker and date.
-- Inputs: `incoming_prices` (registered by cae.ingest, unique on ticker and date), `prices`;
-- parameters $source and $batch_id.
-- Point in time: a correction replaces the stored value for that date only.
update prices
set
    open = incoming.open,
    high = incoming.high,
    low = incoming.low,
    close = incoming.close,
    volume = incoming.volume,
    adj_factor = incoming.adj_factor,
    shares_out = incoming.shares_out,
    source = $source,
    batch_id = $batch_id,
from incoming_prices as incoming
where
    prices.ticker = incoming.ticker
    and prices.date = incoming.date
    and (
        prices.open is distinct from incoming.open
        or prices.high is distinct from incoming.high
        or prices.low is distinct from incoming.low
        or prices.close is distinct from incoming.close
        or prices.volume is distinct from incoming.volume
        or prices.adj_factor is distinct from incoming.adj_factor
        or prices.shares_out is distinct from incoming.shares_out
    );
