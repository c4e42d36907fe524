-- Record one applied migration; runs in the same transaction as the migration itself.
insert into schema_migrations (version, name, applied_at)
values ($version, $name, current_timestamp);
