-- One row (count) telling whether a table named $name exists in the warehouse.
select count(*) as n from duckdb_tables() where table_name = $name;
