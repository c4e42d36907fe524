-- adjustments: one row per ticker, date and source (split, reverse split or vendor factor).
-- The transformations that fill it have their own files (adjustments_detected.sql,
-- adjustments_adj_close.sql, adjustments_file.sql, adjustments_apply.sql); these blocks clear
-- and list it.

-- name: clear
-- Remove the rows of one source from $since on (null: all of them) before they are recomputed
-- or reloaded.
delete from adjustments
where source = $source
    and ($since is null or date >= $since);

-- name: changed_since
-- The first date of price rows written by ingest batches after $after_batch (null: none), and
-- the newest batch: detection need look only from that date on.
select
    (select min(date) from prices where batch_id > $after_batch) as first_changed,
    (select coalesce(max(batch_id), 0) from ingest_batches) as last_batch;

-- name: state_read
-- The newest batch detection has seen and its settings (no row: never ran).
select
    last_batch,
    config,
from actions_state;

-- name: state_write
-- Record the newest batch detection has now seen, with its settings ($config, JSON).
delete from actions_state;
insert into actions_state (last_batch, config) values ($last_batch, $config);

-- name: list
-- Every adjustment as listed by `cae actions`: one row per ticker, date and source, newest last.
select
    ticker,
    date,
    kind,
    ratio,
    close_ratio,
    open_ratio,
    volume_ratio,
    source,
    is_applied,
    evidence,
from adjustments
order by date, ticker, source;
