-- rejected_rows_insert: keep every input row of a batch that broke a rule, with its raw values.
-- Grain: one row per rejected input row.
-- Inputs: `incoming_rejects(row_number, raw, reason)` registered by cae.warehouse.ingest; $batch_id.
insert into rejected_rows (batch_id, row_number, raw, reason)
select
    $batch_id as batch_id,
    row_number,
    raw,
    reason,
from incoming_rejects;
