-- characteristics_{freq}: append the recomputed periods of an incremental build (the rows from
-- the recompute date on were deleted first). Same inputs and rule as
-- characteristics_assemble_create.sql; columns are matched by name.
insert into characteristics_{freq} by name
select
    staging.*,
    stage_one.* exclude (date, ticker),
from characteristics_staging_{freq} as staging
positional join stage_one
order by staging.date, staging.ticker;
