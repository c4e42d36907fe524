-- prices: the first and last trading dates in the warehouse (nulls when empty).
select min(date) as first_date, max(date) as last_date from prices;
