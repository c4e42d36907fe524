-- catalog_meta: one row per key describing how this catalog file was built.
-- Inputs: $views_sha256, the hash of sql/catalog_views.sql the views came from.
-- Point-in-time rule: written once when the catalog is built; the file is then read-only.
create or replace table catalog_meta (
    key varchar primary key,
    value varchar not null,
);

insert into catalog_meta (key, value)
values ('views_sha256', $views_sha256);
