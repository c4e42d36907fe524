-- Migration 3: shares outstanding reach the characteristics; one daily-return view (issue 3).
-- prices_stitched: now also carries shares_out (raw, in the share units of its own date).
-- daily_returns: one row per ticker and trading date: the split-adjusted close-to-close return
--   that daily_base.sql and market_returns.sql both read, so it is computed in one place.
--   Inputs: prices_stitched, adjustments (is_applied rows). Point in time: ret at d uses the
--   closes of d and of the ticker's previous session; cum_factor multiplies the share ratios
--   of splits on or before d only (never back-adjusts with future splits).
-- characteristic_sources: one row per frequency, date and characteristic with a choice of
--   input (turn, std_turn, mvel1): how many panel rows used shares outstanding and how many
--   the volume proxy; panel_meta.turn_source, std_turn_source (new) and mvel1_source summarise
--   it per panel: 'shares_out', the proxy's name, or 'mixed (...)' with both row counts.

create or replace view prices_stitched as
select
    coalesce(aliases.ticker, prices.ticker) as ticker,
    prices.date as date,
    prices.open as open,
    prices.high as high,
    prices.low as low,
    prices.close as close,
    prices.volume as volume,
    prices.adj_factor as adj_factor,
    prices.shares_out as shares_out,
    prices.ticker as source_ticker,
from prices
left join ticker_aliases as aliases
    on prices.ticker = aliases.alias;

create view daily_returns as
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
        prices.shares_out as shares_out,
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
)

select
    ticker,
    date,
    open,
    high,
    low,
    close,
    volume,
    shares_out,
    split_ratio,
    exp(sum(ln(split_ratio)) over (
        partition by ticker order by date
        rows between unbounded preceding and current row
    )) as cum_factor,
    close * split_ratio / prev_close - 1 as ret,
    n_obs,
from sessions;

create table characteristic_sources (
    freq varchar not null,
    date date not null,
    name varchar not null,
    n_shares bigint not null,
    n_proxy bigint not null,
    primary key (freq, date, name),
);

alter table panel_meta add column std_turn_source varchar;
