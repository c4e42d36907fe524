-- panel_meta: the row of one frequency (none if it was never built).
select * from panel_meta where freq = $freq;
