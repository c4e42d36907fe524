-- data_version: one row summarising every ingest batch that changed prices, so a batch that
-- adds or changes rows changes it, and a re-ingest that changes nothing (a scheduled run with no
-- new data) keeps it. Grain: one row for the whole warehouse. Inputs: ingest_batches.
-- Point-in-time rule: describes the warehouse as committed when the statement runs.
with

batches as (
    select
        batch_id,
        concat_ws(
            ':', batch_id, source, file, sha256, rows_new, rows_changed, rows_rejected, status
        ) as batch_key,
    from ingest_batches
    where coalesce(rows_new, 0) + coalesce(rows_changed, 0) > 0
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
