-- prices_pending_drop: remove the batch's scratch table once its rows are merged.
drop table if exists prices_pending;
