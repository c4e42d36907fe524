-- characteristics_{freq}: drop the rows an incremental build is about to recompute.
delete from characteristics_{freq} where date >= $from_date;
