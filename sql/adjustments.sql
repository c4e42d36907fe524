-- adjustments: one row per ticker, date and source (split, reverse split or vendor factor).
-- The transformations that fill it have their own files (adjustments_detected.sql,
-- adjustments_adj_close.sql, adjustments_file.sql, adjustments_apply.sql); these blocks clear
-- and list it.

-- name: clear
-- Remove the rows of one source before it is recomputed or reloaded.
delete from adjustments where source = $source;

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
