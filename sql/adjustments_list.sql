-- adjustments as listed by `cae actions`: one row per ticker, date and source, newest last.
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
