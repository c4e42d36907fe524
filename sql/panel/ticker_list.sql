-- The stitched tickers in the warehouse, sorted: the build processes them in chunks.
select distinct ticker from prices_stitched order by ticker;
