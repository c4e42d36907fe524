-- data_version: one row summarising every ingest batch, so any new or changed batch changes it.
-- Grain: one row for the whole warehouse. Inputs: ingest_batches.
-- Point-in-time rule: describes the warehouse as committed when the statement runs.
with

batches as (
    select
        batch_id,
        concat_ws(
            ':', batch_id, source, file, sha256, rows_new, rows_changed, rows_rejected, status
        ) as batch_key,
    from ingest_batches
),

summary as (
    select
        count(*) as n_batches,
        coalesce(max(batch_id), 0) as max_batch_id,
        md5(coalesce(string_agg(batch_key, ',' order by batch_id), '')) as batches_md5,
    from batches
)

select
    n_batches,
    max_batch_id,
    batches_md5,
from summary;
