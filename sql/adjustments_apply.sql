-- adjustments: decide which row of each ticker and date enters the returns.
-- Precedence: a user file row wins over everything on its day; a ticker with vendor factors
-- (adj_close) ignores detection entirely, since the vendor already covers its splits.
update adjustments
set is_applied = case
    when source = 'file' then true
    when source = 'adj_close' then not exists (
        select 1 from adjustments as file_rows
        where file_rows.source = 'file'
            and file_rows.ticker = adjustments.ticker
            and file_rows.date = adjustments.date
    )
    else not exists (
        select 1 from adjustments as other
        where other.source in ('file', 'adj_close')
            and other.ticker = adjustments.ticker
            and (other.source = 'adj_close' or other.date = adjustments.date)
    )
end;
