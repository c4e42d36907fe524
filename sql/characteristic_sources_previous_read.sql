-- characteristic_sources_previous: one frequency's kept counts, read before a restore swaps them.
select * from characteristic_sources_previous where freq = $freq;
