-- The warehouse's schema version: the highest migration applied, 0 for a new file.
select coalesce(max(version), 0) as version
from schema_migrations;
