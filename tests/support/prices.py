"""Load prices straight into a warehouse, without the ingest module (for the panel tests)."""

PRICE_COLUMNS = ("ticker", "date", "open", "high", "low", "close", "volume")


def insert_prices(con, prices, tickers=None):
    """Append a Polars frame of daily prices (and optional ticker metadata) to the warehouse.

    The rows get a batch of their own, as an ingest gives them: detection and publishing find
    what is new by batch.
    """
    import polars as pl

    batch_id = con.execute(
        "insert into ingest_batches (source, rows_new, rows_changed, started_at, status) "
        "values ('test', ?, 0, now(), 'succeeded') returning batch_id",
        [prices.height],
    ).fetchall()[0][0]
    adj_factor = pl.col("adj_factor") if "adj_factor" in prices.columns else pl.lit(1.0)
    rows = prices.select(
        *PRICE_COLUMNS,
        adj_factor.cast(pl.Float64).alias("adj_factor"),
        pl.lit(None, dtype=pl.Float64).alias("shares_out"),
        pl.lit("test").alias("source"),
        pl.lit(batch_id, dtype=pl.Int64).alias("batch_id"),
    )
    con.from_arrow(rows.to_arrow()).insert_into("prices")
    if tickers is not None:
        meta = tickers.unique("ticker", keep="first", maintain_order=True)
        meta = meta.select("ticker", "name", "sector", "industry").with_columns(
            pl.lit("test").alias("source")
        )
        con.from_arrow(meta.to_arrow()).insert_into("tickers")
