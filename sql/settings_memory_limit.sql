-- Set DuckDB's memory limit for this connection (e.g. '1GB'); beyond it DuckDB spills to disk.
set memory_limit = $limit;
