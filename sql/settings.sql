-- settings: DuckDB options of one connection.

-- name: memory_limit_read
-- The connection's current DuckDB memory limit, as text (e.g. '18.8 GiB').
select current_setting('memory_limit') as memory_limit;

-- name: memory_limit_set
-- Set DuckDB's memory limit for this connection ($limit, e.g. '1GB'); beyond it DuckDB spills
-- to disk.
set memory_limit = $limit;
