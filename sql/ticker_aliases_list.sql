-- ticker_aliases as listed by `cae actions`: one row per stitched temporary ticker.
select alias, ticker, first_date, last_date, reason from ticker_aliases order by alias;
