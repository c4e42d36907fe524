-- ingest_batches_finish: record the counts and outcome of one batch.
-- Inputs: parameters $batch_id, $rows_in, $rows_new, $rows_changed, $rows_rejected, $status,
-- $finished_at (UTC, like started_at).
update ingest_batches
set
    rows_in = $rows_in,
    rows_new = $rows_new,
    rows_changed = $rows_changed,
    rows_rejected = $rows_rejected,
    finished_at = $finished_at,
    status = $status,
where batch_id = $batch_id;
