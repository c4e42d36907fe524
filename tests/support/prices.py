"""Load prices straight into a warehouse, without the ingest module (for the panel tests)."""

PRICE_COLUMNS = ("ticker", "date", "open", "high", "low", "close", "volume")


def new_batch(con, n_rows):
    """Record an ingest batch of `n_rows` new rows and return its id, as an ingest would.

    Detection, panel builds and publishing find what is new by batch, so rows inserted by a
    test need one of their own.
    """
    return con.execute(
        "insert into ingest_batches (source, rows_new, rows_changed, started_at, status) "
        "values ('test', ?, 0, now(), 'succeeded') returning batch_id",
        [n_rows],
    ).fetchall()[0][0]


def insert_prices(con, prices, tickers=None):
    """Append daily prices (and optional ticker metadata) to the warehouse, as one new batch."""
    import polars as pl

    batch_id = new_batch(con, prices.height)
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
