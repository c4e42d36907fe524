-- characteristics_staging_{freq}: the per-ticker (stage-0) columns of a build in progress,
-- written chunk by chunk; dropped before a build starts and after it finishes.
drop table if exists characteristics_staging_{freq};
