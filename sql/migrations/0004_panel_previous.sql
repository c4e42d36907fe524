-- Migration 4: a replaced panel stays recoverable (issue 10).
-- `cae ingest-panel` keeps the panel it replaces as characteristics_<freq>_previous, with:
-- panel_meta_previous: one row per frequency: that panel's panel_meta row (same columns, in
--   the same order, as panel_meta after migration 3);
-- characteristic_sources_previous: one row per frequency, date and characteristic: that
--   panel's characteristic_sources counts.
-- They live until the next ingest-panel at that frequency replaces the panel again;
-- `cae ingest-panel --restore` swaps them with the current panel's.

create table panel_meta_previous (
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
    std_turn_source varchar,
);

create table characteristic_sources_previous (
    freq varchar not null,
    date date not null,
    name varchar not null,
    n_shares bigint not null,
    n_proxy bigint not null,
    primary key (freq, date, name),
);
