-- daily_base: one row per ticker and trading date: raw prices, the split-adjusted daily return,
-- point-in-time adjusted price, volume and shares outstanding, and the ticker's sector (the
-- market return comes from market_returns.sql, which needs every ticker).
-- Inputs: daily_returns (the view over prices_stitched and applied adjustments), tickers.
-- $from_date: first date whose characteristics are needed; $lookback: ticker sessions kept
-- before it so every trailing window at or after $from_date is complete;
-- $ticker_from, $ticker_to: the chunk of tickers to read (ticker_from <= ticker < ticker_to;
-- a null ticker_to reads to the end).
-- Point in time: cum_factor multiplies the share ratios of splits on or before the row's date
-- only (never back-adjusts with future splits), so adj_volume and adj_shares_out are in the
-- ticker's share units as of its first session; ret uses the previous session's close.
with returns as (
    select
        *,
    from daily_returns
    where ticker >= $ticker_from
        and ($ticker_to is null or ticker < $ticker_to)
),

first_needed as (
    select
        ticker,
        min(n_obs) as first_needed,
    from returns
    where date >= $from_date
    group by ticker
),

windowed as (
    select
        returns.*,
        first_needed.first_needed as first_needed,
    from returns
    inner join first_needed
        on returns.ticker = first_needed.ticker
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
    windowed.shares_out as shares_out,
    windowed.cum_factor as cum_factor,
    windowed.ret as ret,
    windowed.close * windowed.cum_factor as adj_close,
    windowed.high * windowed.cum_factor as adj_high,
    windowed.low * windowed.cum_factor as adj_low,
    windowed.volume / windowed.cum_factor as adj_volume,
    windowed.shares_out / windowed.cum_factor as adj_shares_out,
    windowed.close * windowed.volume as dollar_volume,
    windowed.n_obs as n_obs,
from windowed
left join tickers
    on windowed.ticker = tickers.ticker
where windowed.n_obs >= windowed.first_needed - $lookback
order by ticker, date;
