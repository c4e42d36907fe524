-- characteristics_{freq}: one row per date and ticker, the panel of one frequency ({freq} is
-- filled from the FREQUENCIES whitelist only), with the tables its build and its replacement
-- keep beside it: characteristics_staging_{freq}, characteristics_{freq}_previous and
-- universe_counts. The assembling statements have their own files
-- (characteristics_assemble_create.sql, characteristics_assemble_insert.sql).
-- Point in time: every column at d was computed from data up to d, except ret_fwd, the target.

-- name: read
-- The rows in the universe in [$start, $end] (either bound may be null), by date and ticker.
select *
from characteristics_{freq}
where is_in_universe
    and ($start is null or date >= $start)
    and ($end is null or date <= $end)
order by date, ticker;

-- name: date_fingerprints
-- One row per date: a fingerprint of all the panel's rows at that date (count and the sum of
-- each row's hash, order-free). A frozen panel keeps them, so the next one re-reads only the
-- dates whose rows changed since (cae/panel/frozen.py).
select
    date,
    count(*)::varchar || ':' || sum(hash(panel)::hugeint)::varchar as fingerprint,
from characteristics_{freq} as panel
group by date
order by date;

-- name: table_exists
-- One row (count) telling whether a table named $name exists in the warehouse.
select count(*) as n from duckdb_tables() where table_name = $name;

-- name: size
-- The panel's size (one row), told to the user before it is replaced or restored.
select
    count(*) as n_rows,
    count(distinct date) as n_dates,
from characteristics_{freq};

-- name: recent_dates
-- The panel's two latest dates, newest first. The build recomputes from the older one: the
-- newest period may have been incomplete and the one before it lacked ret_fwd.
select distinct date from characteristics_{freq} order by date desc limit 2;

-- name: drop
-- Remove the panel before a full rebuild or a user panel replaces it.
drop table if exists characteristics_{freq};

-- name: delete_from
-- Drop the rows an incremental build is about to recompute.
delete from characteristics_{freq} where date >= $from_date;

-- name: staging_drop
-- characteristics_staging_{freq} holds the per-ticker (stage-0) columns of a build in progress,
-- written chunk by chunk; dropped before a build starts and after it finishes.
drop table if exists characteristics_staging_{freq};

-- name: universe_counts_delete_from
-- universe_counts (one row per frequency and date): drop one frequency's counts from
-- $from_date on before the build recomputes them.
delete from universe_counts where freq = $freq and date >= $from_date;

-- name: keep_previous
-- characteristics_{freq}_previous: the panel a user's file is about to replace, kept until the
-- next replacement (the one kept before is dropped). Runs inside the ingest's transaction.
drop table if exists characteristics_{freq}_previous;
alter table characteristics_{freq} rename to characteristics_{freq}_previous;

-- name: swap_previous
-- `cae ingest-panel --restore` brings the replaced panel back and keeps the current one as the
-- previous, so a restore loses nothing and a second restore undoes it. Runs inside one
-- transaction.
alter table characteristics_{freq} rename to characteristics_{freq}_restoring;
alter table characteristics_{freq}_previous rename to characteristics_{freq};
alter table characteristics_{freq}_restoring rename to characteristics_{freq}_previous;

-- name: adopt_user_panel
-- Before issue 12 a user's panel was stored as characteristics_{freq}, where a build from
-- prices would replace it: it moves to the user's own table characteristics_own_{freq}, with
-- its panel_meta row (keyed own_{freq}). Runs inside one transaction, only when no
-- characteristics_own_{freq} exists.
alter table characteristics_{freq} rename to characteristics_own_{freq};
update panel_meta set freq = 'own_' || freq where freq = $freq;
