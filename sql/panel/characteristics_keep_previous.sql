-- characteristics_{freq}_previous: the panel a user's file is about to replace, kept until the
-- next replacement (the one kept before is dropped). Runs inside the ingest's transaction.
drop table if exists characteristics_{freq}_previous;
alter table characteristics_{freq} rename to characteristics_{freq}_previous;
