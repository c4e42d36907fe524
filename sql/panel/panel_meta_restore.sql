-- panel_meta: put back the row of a restored panel. Input: the registered relation
-- restoring_meta (its panel_meta_previous row, read before that row was overwritten).
insert or replace into panel_meta by name
select * from restoring_meta;
