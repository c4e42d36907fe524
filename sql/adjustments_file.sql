-- adjustments (source 'file'): one row per line of the user's corporate-actions file, already
-- validated and registered as the relation `actions_file_rows(ticker, date, ratio, line)`.
-- A ratio of 1 records "no action here" and so suppresses a wrong detection on that day.
insert into adjustments
select
    ticker,
    date,
    case when ratio > 1 then 'split' when ratio < 1 then 'reverse_split' else 'none' end as kind,
    ratio,
    null as close_ratio,
    null as open_ratio,
    null as volume_ratio,
    'file' as source,
    true as is_applied,
    printf('%s line %d', $file, line) as evidence,
from actions_file_rows;
