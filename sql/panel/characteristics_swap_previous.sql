-- characteristics_{freq} <-> characteristics_{freq}_previous: `cae ingest-panel --restore`
-- brings the replaced panel back and keeps the current one as the previous, so a restore loses
-- nothing and a second restore undoes it. Runs inside one transaction.
alter table characteristics_{freq} rename to characteristics_{freq}_restoring;
alter table characteristics_{freq}_previous rename to characteristics_{freq};
alter table characteristics_{freq}_restoring rename to characteristics_{freq}_previous;
