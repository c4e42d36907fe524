-- settings: DuckDB options and variables of one connection.

-- name: memory_limit_read
-- The connection's current DuckDB memory limit, as text (e.g. '18.8 GiB').
select current_setting('memory_limit') as memory_limit;

-- name: memory_limit_set
-- Set DuckDB's memory limit for this connection ($limit, e.g. '1GB'); beyond it DuckDB spills
-- to disk.
set memory_limit = $limit;

-- name: returns_floor_set
-- Make daily_returns (migration 6) start at $floor on this connection only.
set variable daily_returns_floor = $floor;

-- name: returns_floor_reset
-- Make daily_returns return every session again.
reset variable daily_returns_floor;
