-- adjustments: remove the rows of one source before it is recomputed or reloaded.
delete from adjustments where source = $source;
