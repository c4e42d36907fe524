-- ingest_batches: one row per ingested file or source pull, with its counts and outcome.

-- name: start
-- Open the bookkeeping row of one batch and return its batch_id ($source, $file, $sha256,
-- $started_at). Runs inside the batch's transaction, so a failed load leaves no row.
insert into ingest_batches (source, file, sha256, started_at, status)
values ($source, $file, $sha256, $started_at, 'running')
returning batch_id;

-- name: finish
-- Record the counts and outcome of one batch ($finished_at in UTC, like started_at).
update ingest_batches
set
    rows_in = $rows_in,
    rows_new = $rows_new,
    rows_changed = $rows_changed,
    rows_rejected = $rows_rejected,
    finished_at = $finished_at,
    status = $status,
where batch_id = $batch_id;

-- name: seen
-- The content hashes of files already ingested successfully, so a drop folder ingests each
-- file once: one row per distinct sha256.
select distinct sha256
from ingest_batches
where sha256 is not null and status = 'ok';
