-- status_panels: the stored characteristics panels, for `cae status`. Grain: one row per panel
-- (`panel_meta.freq`: daily, weekly or monthly for a panel built from prices, own_<freq> for a
-- user's panel from `cae ingest-panel`), stored in the table characteristics_<panel>. Inputs:
-- `panel_meta`; a user's panel shows its file's name (the full path is in panel_meta.source).
select
    freq as panel,
    case
        when source like 'file:%' then regexp_extract(source, '[^/\\]+$')
        else source
    end as source,
    first_date,
    last_date,
    n_rows as rows,
    strftime(built_at, '%Y-%m-%d %H:%M') as built_at,
from panel_meta
order by freq;
