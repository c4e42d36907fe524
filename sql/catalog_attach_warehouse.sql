-- catalog_attach_warehouse: attach warehouse tables (prices, ingest_batches, ...) read-only.
-- Inputs: $warehouse_path, the warehouse snapshot (default) or the live warehouse file.
-- Point-in-time rule: a snapshot is as of the writer's last snapshot_warehouse call.
attach $warehouse_path as warehouse (read_only);
