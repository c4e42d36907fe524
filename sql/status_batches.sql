-- status_batches: the most recent ingest batches, newest first. Grain: one row per batch.
-- Inputs: `ingest_batches`; parameter $limit.
select
    batch_id,
    source,
    file,
    rows_in,
    rows_new,
    rows_changed,
    rows_rejected,
    status,
    finished_at,
from ingest_batches
order by batch_id desc
limit $limit;
