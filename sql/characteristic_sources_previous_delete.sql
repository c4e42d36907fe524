-- characteristic_sources_previous: drop one frequency's counts before newer ones are kept.
delete from characteristic_sources_previous where freq = $freq;
