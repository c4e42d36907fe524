-- catalog_version: the hash of the view definitions a catalog file was built from.
-- Grain: one row (none for a file built before catalog_meta existed).
-- Inputs: catalog_meta. Point-in-time rule: none, the table is written once.
select value as views_sha256,
from catalog_meta
where key = 'views_sha256';
