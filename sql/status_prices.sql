-- status_prices: what the warehouse holds, in one row.
-- Inputs: `prices`, `tickers`.
with

metadata as (
    select ticker from tickers
)

select
    count(*) as rows,
    count(distinct prices.ticker) as tickers,
    min(prices.date) as first_date,
    max(prices.date) as last_date,
    count(distinct metadata.ticker) as tickers_with_metadata,
from prices
left join metadata
    on metadata.ticker = prices.ticker;
