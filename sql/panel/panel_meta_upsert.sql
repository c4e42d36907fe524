-- panel_meta: one row per frequency, replaced after each build or panel ingest.
insert or replace into panel_meta (
    freq, source, char_names, turn_source, std_turn_source, mvel1_source, universe_config,
    first_date, last_date, n_rows, built_at
)
select
    $freq,
    $source,
    $char_names,
    $turn_source,
    $std_turn_source,
    $mvel1_source,
    $universe_config,
    min(date),
    max(date),
    count(*),
    current_timestamp,
from characteristics_{freq};
