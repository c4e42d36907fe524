-- published: the warehouse's tables published for readers as Parquet files plus one manifest
-- (cae/warehouse/published.py). Grain of a file: one table's rows of one period (a month of
-- `date` for prices and panels, a block of 100 ingest batches for rejected_rows) or the whole
-- of a small table. Point-in-time rule: every statement sees what the publishing connection
-- has committed; readers see a version only once its manifest is swapped in.

-- name: tables
-- The base tables of the warehouse with their columns (name and type, in order), one row per
-- table; publish_marks and panel staging tables are the writer's own and not published.
select
    table_name,
    list(column_name order by column_index) as column_names,
    list(data_type order by column_index) as column_types,
from duckdb_columns()
where database_name = current_database()
    and schema_name = 'main'
    and table_name in (
        select table_name
        from duckdb_tables()
        where database_name = current_database() and schema_name = 'main'
    )
    and table_name != 'publish_marks'
    and table_name not like 'characteristics_staging_%'
group by table_name
order by table_name;

-- name: views
-- The warehouse's views (prices_stitched, daily_returns, ...) as the SQL that created them, so
-- readers recreate them over the published tables.
select
    view_name,
    sql,
from duckdb_views()
where database_name = current_database()
    and schema_name = 'main'
    and not internal
order by view_name;

-- name: fingerprint
-- A small table's content in one line: its row count and the sum of its rows' hashes (each row
-- hashed whole, as a struct; the sum ignores order). Publishing rewrites it when this changes.
select count(*)::varchar || ':' || coalesce(sum(hash(t)::hugeint), 0)::varchar as fingerprint,
from query_table($table) as t;

-- name: last_batch
-- The newest ingest batch: price rows and rejected rows of later batches are unpublished (a
-- warehouse whose newest batch is older than the manifest's was replaced: all of it is).
select coalesce(max(batch_id), 0) as last_batch,
from ingest_batches;

-- name: price_months_since
-- The months of price rows written by ingest batches after $after_batch (inserted or changed).
select distinct strftime(date, '%Y-%m') as period,
from prices
where batch_id > $after_batch;

-- name: months_from
-- The months of $table holding rows from $first_day on (null: all of them).
select distinct strftime(date, '%Y-%m') as period,
from query_table($table)
where $first_day is null or date >= $first_day;

-- name: copy_months
-- Write $table's rows of the months $periods ('YYYY-MM') under $folder, one file per month in
-- period=YYYY-MM/ (hive style); returns the files written (months without rows write none).
-- $first_day (the first month's first day) lets the scan skip older row groups.
copy (
    select
        *,
        strftime(date, '%Y-%m') as period,
    from query_table($table)
    where date >= $first_day
        and list_contains($periods, strftime(date, '%Y-%m'))
) to $folder (
    format parquet,
    partition_by (period),
    filename_pattern 'part_{uuid}',
    append,
    return_files true
);

-- name: copy_batches
-- Write rejected_rows of the batch blocks $periods ('NNNNNN', batch_id // 100) under $folder,
-- one file per block in batches=NNNNNN/; returns the files written.
copy (
    select
        *,
        lpad((batch_id // 100)::varchar, 6, '0') as batches,
    from rejected_rows
    where list_contains($periods, lpad((batch_id // 100)::varchar, 6, '0'))
) to $folder (
    format parquet,
    partition_by (batches),
    filename_pattern 'part_{uuid}',
    append,
    return_files true
);

-- name: batch_blocks_since
-- The blocks of 100 batches holding rejected rows of batches after $after_batch.
select distinct lpad((batch_id // 100)::varchar, 6, '0') as period,
from rejected_rows
where batch_id > $after_batch;

-- name: copy_whole
-- Write all of a small table to one file at $path.
copy (select * from query_table($table)) to $path (format parquet);

-- name: file_rows
-- The row count of each Parquet file in $files, from its footer.
select
    file_name,
    num_rows,
from parquet_file_metadata($files);

-- name: marks
-- The unpublished changes of panel tables: one row per mark.
select
    table_name,
    first_period,
from publish_marks;

-- name: mark
-- Record that $table changed from month $first_period on (null: all of it).
insert into publish_marks (table_name, first_period)
values ($table, $first_period);

-- name: marks_clear
-- Forget the marks once their months are published.
delete from publish_marks;
