-- schema_migrations: one row per applied migration file in sql/migrations/.

-- name: create
-- The bookkeeping table itself, created before the first migration runs.
create table if not exists schema_migrations (
    version integer primary key,
    name varchar not null,
    applied_at timestamp not null,
);

-- name: record
-- Record one applied migration; runs in the same transaction as the migration itself.
insert into schema_migrations (version, name, applied_at)
values ($version, $name, current_timestamp);

-- name: version
-- The warehouse's schema version: the highest migration applied, 0 for a new file.
select coalesce(max(version), 0) as version
from schema_migrations;
