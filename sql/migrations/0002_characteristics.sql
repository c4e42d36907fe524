-- Migration 2: corporate actions, universe counts and panel metadata (issue 3).
-- ticker_aliases: one row per temporary ticker that is stitched onto its root ticker
--   (e.g. ETFCD -> ETFC: NASDAQ's "D" suffix for 20 sessions after a reverse split).
-- adjustments: one row per ticker and date with a share-count change (split or reverse split),
--   with the evidence that found it; `ratio` is new shares per old share (2 for 2:1, 0.1 for 1:10).
--   source is 'detected', 'file' (user corporate-actions file) or 'adj_close' (vendor factor);
--   only rows with is_applied enter returns (a file row wins over detection on the same day).
-- universe_counts: one row per frequency and date: how many tickers pass each filter.
-- panel_meta: one row per frequency: where the panel came from, which proxies and which
--   universe filters (JSON) it used.
-- The panels themselves live in characteristics_<freq> tables whose columns follow the
-- characteristic registry (or the user's file), so they are created by cae.panel.

create table ticker_aliases (
    alias varchar primary key,
    ticker varchar not null,
    first_date date not null,
    last_date date not null,
    reason varchar not null,
);

create table adjustments (
    ticker varchar not null,
    date date not null,
    kind varchar not null,
    ratio double not null,
    close_ratio double,
    open_ratio double,
    volume_ratio double,
    source varchar not null,
    is_applied boolean not null,
    evidence varchar not null,
    primary key (ticker, date, source),
);

create table universe_counts (
    freq varchar not null,
    date date not null,
    n_total bigint not null,
    n_price bigint not null,
    n_history bigint not null,
    n_dollar_volume bigint not null,
    n_universe bigint not null,
    primary key (freq, date),
);

create table panel_meta (
    freq varchar primary key,
    source varchar not null,
    char_names varchar not null,
    turn_source varchar,
    mvel1_source varchar,
    universe_config varchar,
    first_date date,
    last_date date,
    n_rows bigint,
    built_at timestamp not null,
);

-- prices_stitched: prices with temporary tickers renamed to their root (one row per ticker and
-- date). Point in time: an alias is only accepted when it never overlaps its root's dates.
create view prices_stitched as
select
    coalesce(aliases.ticker, prices.ticker) as ticker,
    prices.date as date,
    prices.open as open,
    prices.high as high,
    prices.low as low,
    prices.close as close,
    prices.volume as volume,
    prices.adj_factor as adj_factor,
    prices.ticker as source_ticker,
from prices
left join ticker_aliases as aliases
    on prices.ticker = aliases.alias;
