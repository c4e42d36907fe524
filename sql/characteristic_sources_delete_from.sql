-- characteristic_sources: drop one frequency's counts from $from_date on (all of them when
-- $from_date is null) before they are recomputed or a user's panel replaces the computed one.
delete from characteristic_sources
where freq = $freq
    and ($from_date is null or date >= $from_date);
