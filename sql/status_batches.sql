-- status_batches: the most recent ingest batches, newest first, with short column names for a
-- terminal. Grain: one row per batch. Inputs: `ingest_batches`; parameter $limit.
select
    batch_id as batch,
    source,
    regexp_extract(file, '[^/\\]+$') as file,
    rows_in as rows,
    rows_new as new,
    rows_changed as changed,
    rows_rejected as rejected,
    status,
    strftime(finished_at, '%Y-%m-%d %H:%M') as finished_at,
from ingest_batches
order by batch_id desc
limit $limit;
