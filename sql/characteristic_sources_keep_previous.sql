-- characteristic_sources_previous: keep one frequency's counts (one row per date and
-- characteristic) with the panel that becomes characteristics_<freq>_previous.
insert into characteristic_sources_previous by name
select * from characteristic_sources where freq = $freq;
