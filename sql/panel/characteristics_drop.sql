-- characteristics_{freq}: remove the panel before a full rebuild or a user panel replaces it.
drop table if exists characteristics_{freq};
