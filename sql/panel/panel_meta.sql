-- panel_meta: one row per frequency describing its stored panel (source, characteristics,
-- universe filters, dates, size), replaced after each build or panel ingest.
-- panel_meta_previous: the same row for the panel kept as characteristics_{freq}_previous.

-- name: upsert
-- Replace the row of one frequency from the panel just written.
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

-- name: read
-- The row of one frequency (none if it was never built).
select * from panel_meta where freq = $freq;

-- name: keep_previous
-- Save the row of the panel that becomes characteristics_{freq}_previous (one row per
-- frequency, replaced each time).
insert or replace into panel_meta_previous by name
select * from panel_meta where freq = $freq;

-- name: previous_read
-- The kept row of one frequency (none if no panel was replaced).
select * from panel_meta_previous where freq = $freq;

-- name: restore
-- Put back the row of a restored panel. Input: the registered relation restoring_meta (its
-- panel_meta_previous row, read before that row was overwritten).
insert or replace into panel_meta by name
select * from restoring_meta;

-- name: state_read
-- What the last build of the panel $freq read (no row: never built, or built before this).
select
    data_version,
    inputs,
from panel_state
where freq = $freq;

-- name: state_write
-- Record what this build of the panel $freq read ($data_version, $inputs).
insert or replace into panel_state (freq, data_version, inputs)
values ($freq, $data_version, $inputs);

-- name: inputs
-- A fingerprint of the inputs of a build besides prices: the adjustments and the ticker metadata
-- (sectors feed indmom), each as its row count and the sum of its rows' hashes.
with

adjusted as (
    select count(*)::varchar || ':' || coalesce(sum(hash(a)::hugeint), 0)::varchar as part,
    from adjustments as a
),

described as (
    select count(*)::varchar || ':' || coalesce(sum(hash(t)::hugeint), 0)::varchar as part,
    from tickers as t
)

select adjusted.part || '/' || described.part as inputs,
from adjusted, described;
