-- Migration 4: a replaced panel stays recoverable (issue 10).
-- panel_meta_previous: one row per frequency: the panel_meta row of
--   characteristics_<freq>_previous, the panel the last `cae ingest-panel` replaced. It lives
--   until the next ingest-panel at that frequency replaces the panel again;
--   `cae ingest-panel --restore` swaps it with the current panel (and its panel_meta row).
-- Same columns, in the same order, as panel_meta after migration 3.

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
