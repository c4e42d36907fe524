-- status_prices: what the warehouse holds, in one row.
-- Inputs: `prices`, `tickers`.
select
    count(*) as rows,
    count(distinct ticker) as tickers,
    min(date) as first_date,
    max(date) as last_date,
    (select count(*) from tickers) as tickers_with_metadata,
from prices;
