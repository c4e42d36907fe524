-- schema_migrations: one row per applied migration file in sql/migrations/.
create table if not exists schema_migrations (
    version integer primary key,
    name varchar not null,
    applied_at timestamp not null,
);
