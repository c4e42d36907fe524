-- ticker_aliases: one row per temporary ticker stitched onto its root.
-- Point in time: the alias rows keep their own dates; nothing is moved across time.

-- name: stitch
-- Find the aliases in prices. Rule: a ticker `<root>D` (NASDAQ's suffix for the 20 sessions
-- after a reverse split) whose dates all fall inside a gap of `<root>` (root trades before it,
-- never during it).
insert or replace into ticker_aliases
with spans as (
    select
        ticker,
        min(date) as first_date,
        max(date) as last_date,
    from prices
    group by ticker
),

candidates as (
    select
        alias_span.ticker as alias,
        root_span.ticker as ticker,
        alias_span.first_date as first_date,
        alias_span.last_date as last_date,
    from spans as alias_span
    inner join spans as root_span
        on alias_span.ticker = root_span.ticker || 'D'
    where root_span.first_date < alias_span.first_date
),

overlapping as (
    select distinct candidates.alias as alias,
    from candidates
    inner join prices
        on prices.ticker = candidates.ticker
        and prices.date between candidates.first_date and candidates.last_date
)

select
    candidates.alias as alias,
    candidates.ticker as ticker,
    candidates.first_date as first_date,
    candidates.last_date as last_date,
    'temporary "D" ticker inside a gap of its root' as reason,
from candidates
anti join overlapping
    on candidates.alias = overlapping.alias;

-- name: list
-- The aliases as listed by `cae actions`: one row per stitched temporary ticker.
select alias, ticker, first_date, last_date, reason from ticker_aliases order by alias;
