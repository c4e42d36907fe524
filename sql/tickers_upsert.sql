-- tickers_upsert: store ticker metadata (name, sector, industry); a newer pull replaces the old.
-- Grain: one row per ticker.
-- Inputs: `incoming_tickers(ticker, name, sector, industry)` registered by cae.warehouse.ingest; $source.
insert into tickers (ticker, name, sector, industry, source)
select
    ticker,
    name,
    sector,
    industry,
    $source as source,
from incoming_tickers
on conflict (ticker) do update set
    name = excluded.name,
    sector = excluded.sector,
    industry = excluded.industry,
    source = excluded.source;
