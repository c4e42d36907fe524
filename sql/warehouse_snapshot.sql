-- warehouse_snapshot: a copy of every table of the `warehouse` database, in a file readers
-- attach instead of the live warehouse (see cae/runs/catalog.py).
-- Point-in-time rule: the copy sees what the calling connection has committed.

-- name: attach
-- Open a new, empty DuckDB file to copy the warehouse into. $snapshot_path: a fresh file in
-- outputs/.tmp, renamed over the snapshot when done.
attach $snapshot_path as warehouse_snapshot;

-- name: copy
-- Copy the whole warehouse, table by table, from the connection's `warehouse` database (the
-- file warehouse.duckdb, or its read-only attachment) into the attached snapshot file.
copy from database warehouse to warehouse_snapshot;

-- name: detach
-- Close the snapshot file so it can be renamed into place.
detach database if exists warehouse_snapshot;
