-- ingest_batches_seen: the content hashes of files already ingested successfully, so a drop
-- folder ingests each file once. Grain: one row per distinct sha256.
select distinct sha256
from ingest_batches
where sha256 is not null and status = 'ok';
