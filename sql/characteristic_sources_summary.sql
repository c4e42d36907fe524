-- characteristic_sources_summary: one row per characteristic with a choice of input: panel
-- rows (all dates of one frequency) whose value used shares outstanding and the volume proxy.
-- Inputs: characteristic_sources. Point in time: each count was fixed when its date was built.
select
    name,
    sum(n_shares)::bigint as n_shares,
    sum(n_proxy)::bigint as n_proxy,
from characteristic_sources
where freq = $freq
group by name
order by name;
