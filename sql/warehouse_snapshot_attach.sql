-- warehouse_snapshot_attach: open a new, empty DuckDB file to copy the warehouse into.
-- Inputs: $snapshot_path, a fresh file in outputs/.tmp (renamed over the snapshot when done).
attach $snapshot_path as warehouse_snapshot;
