-- warehouse_snapshot: copy every table of the `warehouse` database into `warehouse_snapshot`.
-- Grain: the whole warehouse, table by table. Inputs: the connection's `warehouse` database
-- (the file warehouse.duckdb, or its read-only attachment) and the attached snapshot file.
-- Point-in-time rule: the copy sees what the calling connection has committed; readers attach
-- the snapshot, never the live file (see cae/catalog.py).
copy from database warehouse to warehouse_snapshot;
