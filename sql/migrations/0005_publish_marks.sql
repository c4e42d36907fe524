-- Migration 5: what the warehouse committed that readers have not been shown yet (issue 13).
-- publish_marks: one row per change to a published panel table (characteristics_*) that its
--   writer recorded in the same transaction as the change: the months from first_period to
--   last_period ('YYYY-MM', either null for unbounded; both null for the whole table).
-- cae.warehouse.published reads the marks, rewrites those months' Parquet files, swaps the
-- manifest, then deletes the marks; marks left by a command that stopped before publishing
-- are published by the next command.

create table publish_marks (
    table_name varchar not null,
    first_period varchar,
    last_period varchar,
);
