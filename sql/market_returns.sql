-- market_returns: one row per trading date: the equal-weighted mean of every ticker's
-- split-adjusted return that day (the market factor `beta` regresses on).
-- Inputs: prices_stitched, adjustments (is_applied rows).
-- Point in time: the row for d uses closes of d and of each ticker's previous session only.
with applied as (
    select
        ticker,
        date,
        ratio,
    from adjustments
    where is_applied
),

returns as (
    select
        prices.date as date,
        prices.close * coalesce(applied.ratio, 1.0) / lag(prices.close) over (
            partition by prices.ticker order by prices.date
            rows between 1 preceding and 1 preceding
        ) - 1 as ret,
    from prices_stitched as prices
    left join applied
        on prices.ticker = applied.ticker
        and prices.date = applied.date
)

select
    date,
    avg(ret) as mkt_ret,
from returns
group by date
order by date;
