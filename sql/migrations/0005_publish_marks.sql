-- Migration 5: what changed since the last publish and the last corporate-action detection,
-- so daily updates touch only what is new (issue 13).
-- publish_marks: one row per change to a published panel table (characteristics_*) that its
--   writer recorded in the same transaction as the change: the months from first_period
--   ('YYYY-MM') on; null for the whole table.
-- cae.warehouse.published reads the marks, rewrites those months' Parquet files, swaps the
-- manifest, then deletes the marks; marks left by a command that stopped before publishing
-- are published by the next command.

create table publish_marks (
    table_name varchar not null,
    first_period varchar,
);

-- actions_state: one row: the newest ingest batch that corporate-action detection has seen and
-- the settings it used (JSON); cae.warehouse.actions re-detects only from the first date of
-- later batches' rows on, and everything when the settings change.
create table actions_state (
    last_batch bigint not null,
    config varchar not null,
);
