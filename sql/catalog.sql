-- catalog: how a catalog file (outputs/catalog.duckdb) is stamped and opened. Its views come
-- from catalog_views.sql; catalog_meta holds one row per key describing how the file was built.

-- name: meta_write
-- Record the hash of sql/catalog_views.sql the views came from ($views_sha256). Written once
-- when the catalog is built; the file is then read-only.
create or replace table catalog_meta (
    key varchar primary key,
    value varchar not null,
);

insert into catalog_meta (key, value)
values ('views_sha256', $views_sha256);

-- name: views_sha256
-- The hash of the view definitions a catalog file was built from: one row (none for a file
-- built before catalog_meta existed).
select value as views_sha256,
from catalog_meta
where key = 'views_sha256';

-- name: attach_catalog
-- Open the catalog file $catalog_path read-only as the reader's current database, so its output
-- views (runs, metrics, ...) resolve by plain name and nothing can be written to it.
attach $catalog_path as outputs (read_only);

-- name: use_catalog
-- Make the attached catalog the current database (after attach_catalog).
use outputs;

-- name: attach_warehouse
-- Attach the live warehouse file $warehouse_path read-only (`cae sql --live`): it fails while a
-- writer holds the file. By default readers attach the published version instead
-- (cae/warehouse/published.py).
attach $warehouse_path as warehouse (read_only);

-- name: search_path
-- Let plain names (prices, metrics) resolve to the output views first, then to the attached
-- warehouse, so one query joins both without qualifying names.
set search_path = 'main,warehouse.main';
