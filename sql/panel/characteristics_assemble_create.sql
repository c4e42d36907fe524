-- characteristics_{freq}: one row per date and ticker, created by a full build.
-- Inputs: characteristics_staging_{freq} (key columns, is_in_universe and the per-ticker
-- characteristics) and the registered relation stage_one (date, ticker and the
-- cross-sectional characteristics), row for row in the same order: cae.panel builds both from
-- the same period frames, chunk by chunk, so a positional join pairs them without hashing 7M
-- keys (tests/test_panel.py checks that betasq = beta^2 on every row). Point in time: both
-- inputs were computed from data up to each row's date; this only puts their columns side by
-- side. Stored in date order, so a query or publish of recent months skips older row groups.
create table characteristics_{freq} as
select
    staging.*,
    stage_one.* exclude (date, ticker),
from characteristics_staging_{freq} as staging
positional join stage_one
order by staging.date, staging.ticker;
