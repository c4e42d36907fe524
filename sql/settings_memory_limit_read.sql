-- The connection's current DuckDB memory limit, as text (e.g. '18.8 GiB').
select current_setting('memory_limit') as memory_limit;
