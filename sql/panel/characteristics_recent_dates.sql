-- characteristics_{freq}: its two latest dates, newest first. The build recomputes from the
-- older one: the newest period may have been incomplete and the one before it lacked ret_fwd.
select distinct date from characteristics_{freq} order by date desc limit 2;
