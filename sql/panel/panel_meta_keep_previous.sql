-- panel_meta_previous: save the panel_meta row of the panel that becomes
-- characteristics_{freq}_previous (one row per frequency, replaced each time).
insert or replace into panel_meta_previous by name
select * from panel_meta where freq = $freq;
