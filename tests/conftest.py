"""Shared fixtures. Every test runs with a private cae home and Prefect home, network-free."""

import os

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture
def cae_home(tmp_path, monkeypatch):
    """A fresh, empty cae home directory; `CAE_HOME` points at it."""
    home = tmp_path / "cae_home"
    monkeypatch.setenv("CAE_HOME", str(home))
    return home


# --- issue 3 (features): load prices without the ingest module -------------------------------
PRICE_COLUMNS = ("ticker", "date", "open", "high", "low", "close", "volume")


def insert_prices(con, prices, tickers=None):
    """Append a Polars frame of daily prices (and optional ticker metadata) to the warehouse."""
    import polars as pl

    adj_factor = pl.col("adj_factor") if "adj_factor" in prices.columns else pl.lit(1.0)
    rows = prices.select(
        *PRICE_COLUMNS,
        adj_factor.cast(pl.Float64).alias("adj_factor"),
        pl.lit("test").alias("source"),
        pl.lit(0, dtype=pl.Int64).alias("batch_id"),
    )
    con.from_arrow(rows.to_arrow()).insert_into("prices")
    if tickers is not None:
        meta = tickers.unique("ticker", keep="first", maintain_order=True)
        meta = meta.select("ticker", "name", "sector", "industry").with_columns(
            pl.lit("test").alias("source")
        )
        con.from_arrow(meta.to_arrow()).insert_into("tickers")


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory):
    """A warehouse file holding the bundled sample (built once per session; copy before writing)."""
    from cae import warehouse
    from cae.sources.sample import read_sample_prices, read_sample_tickers

    home = tmp_path_factory.mktemp("sample_home")
    con = warehouse.connect(home)
    insert_prices(con, read_sample_prices(), read_sample_tickers())
    con.close()
    return home
