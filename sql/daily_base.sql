-- daily_base: one row per ticker and trading date: raw prices, the split-adjusted daily return,
-- point-in-time adjusted price and volume and the ticker's sector (the market return comes
-- from market_returns.sql, which needs every ticker).
-- Inputs: prices_stitched, adjustments (is_applied rows), tickers.
-- $from_date: first date whose characteristics are needed; $lookback: ticker sessions kept
-- before it so every trailing window at or after $from_date is complete;
-- $ticker_from, $ticker_to: the chunk of tickers to read (ticker_from <= ticker < ticker_to;
-- a null ticker_to reads to the end).
-- Point in time: cum_factor multiplies the share ratios of splits on or before the row's date
-- only (never back-adjusts with future splits); ret uses the previous session's close; the
-- market return at d is the equal-weighted mean of all tickers' returns at d.
with applied as (
    select
        ticker,
        date,
        ratio,
    from adjustments
    where is_applied
),

sessions as (
    select
        prices.ticker as ticker,
        prices.date as date,
        prices.open as open,
        prices.high as high,
        prices.low as low,
        prices.close as close,
        prices.volume as volume,
        coalesce(applied.ratio, 1.0) as split_ratio,
        lag(prices.close) over (
            partition by prices.ticker order by prices.date
            rows between 1 preceding and 1 preceding
        ) as prev_close,
        row_number() over (partition by prices.ticker order by prices.date) as n_obs,
    from prices_stitched as prices
    left join applied
        on prices.ticker = applied.ticker
        and prices.date = applied.date
    where prices.ticker >= $ticker_from
        and ($ticker_to is null or prices.ticker < $ticker_to)
),

adjusted as (
    select
        *,
        exp(sum(ln(split_ratio)) over (
            partition by ticker order by date
            rows between unbounded preceding and current row
        )) as cum_factor,
        close * split_ratio / prev_close - 1 as ret,
    from sessions
),

first_needed as (
    select
        ticker,
        min(n_obs) as first_needed,
    from adjusted
    where date >= $from_date
    group by ticker
),

windowed as (
    select
        adjusted.*,
        first_needed.first_needed as first_needed,
    from adjusted
    inner join first_needed
        on adjusted.ticker = first_needed.ticker
)

select
    windowed.ticker as ticker,
    windowed.date as date,
    tickers.sector as sector,
    windowed.open as open,
    windowed.high as high,
    windowed.low as low,
    windowed.close as close,
    windowed.volume as volume,
    windowed.cum_factor as cum_factor,
    windowed.ret as ret,
    windowed.close * windowed.cum_factor as adj_close,
    windowed.high * windowed.cum_factor as adj_high,
    windowed.low * windowed.cum_factor as adj_low,
    windowed.volume / windowed.cum_factor as adj_volume,
    windowed.close * windowed.volume as dollar_volume,
    windowed.n_obs as n_obs,
from windowed
left join tickers
    on windowed.ticker = tickers.ticker
where windowed.n_obs >= windowed.first_needed - $lookback
order by ticker, date;
