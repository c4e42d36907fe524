-- market_returns: one row per trading date: the equal-weighted mean of every ticker's
-- split-adjusted return that day (the market factor `beta` regresses on).
-- Inputs: daily_returns (the same returns daily_base.sql reads).
-- Point in time: the row for d uses closes of d and of each ticker's previous session only.
select
    date,
    avg(ret) as mkt_ret,
from daily_returns
group by date
order by date;
