-- status_rejects: rejected rows counted by the first rule they broke. Grain: one row per rule.
-- Inputs: `rejected_rows`.
with

rules as (
    select split_part(reason, ':', 1) as rule
    from rejected_rows
)

select
    rule,
    count(*) as rows,
from rules
group by rule
order by rows desc, rule;
