-- panel_meta_previous: the row of one frequency (none if no panel was replaced).
select * from panel_meta_previous where freq = $freq;
