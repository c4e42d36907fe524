-- ingest_batches_start: open the bookkeeping row of one batch (one file or source pull) and
-- return its batch_id. Runs inside the batch's transaction, so a failed load leaves no row.
-- Inputs: parameters $source, $file, $sha256, $started_at.
insert into ingest_batches (source, file, sha256, started_at, status)
values ($source, $file, $sha256, $started_at, 'running')
returning batch_id;
