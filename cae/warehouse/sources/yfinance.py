"""Daily prices from Yahoo Finance through the `yfinance` package (the optional extra `online`).

Needs internet, so tests parse a small response in the shape `yfinance.download` returns
(columns indexed by price field and ticker) and never call the network. Prices are taken raw
(`auto_adjust=False`); `Adj Close` becomes the row's `adj_factor`.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from cae.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FIELDS", "download", "parse_download"]

# yfinance's price fields -> cae's long columns.
FIELDS = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}
_SEPARATOR = "\x1f"  # joins field and ticker in a flat column name; never in either


def parse_download(frame: pd.DataFrame) -> pl.DataFrame:
    """Return long raw rows (ticker, date, OHLC, adj_close, volume) from a yfinance frame.

    The frame has a date index and two column levels, price field and ticker, in either order.
    Dates on which a ticker has no close (before its listing) are dropped.
    """
    columns = frame.columns
    if getattr(columns, "nlevels", 1) != 2:
        raise DataError("yfinance response: expected columns indexed by (price field, ticker)")
    field_level = 0 if set(columns.get_level_values(0)) & FIELDS.keys() else 1
    fields = columns.get_level_values(field_level)
    tickers = columns.get_level_values(1 - field_level)
    flat = frame.copy()
    flat.columns = [f"{f}{_SEPARATOR}{t}" for f, t in zip(fields, tickers, strict=True)]
    wide = pl.from_pandas(flat.rename_axis("date").reset_index())
    long = wide.unpivot(index="date", variable_name="key").with_columns(
        pl.col("key").str.split_exact(_SEPARATOR, 1).struct.rename_fields(["field", "ticker"])
    )
    long = long.unnest("key").filter(pl.col("field").is_in(list(FIELDS)))
    rows = long.pivot(on="field", index=["ticker", "date"], values="value")
    rows = rows.rename({f: c for f, c in FIELDS.items() if f in rows.columns})
    return (
        rows.filter(pl.col("close").is_not_nan() & pl.col("close").is_not_null())
        .with_columns(pl.col("date").cast(pl.Date))
        .sort("ticker", "date")
    )


def download(tickers: Sequence[str], *, period: str = "max") -> pl.DataFrame:
    """Download daily prices for `tickers` from Yahoo Finance and return long raw rows.

    Raises `ConfigError` when the `online` extra (yfinance) is not installed.
    """
    try:
        yf = importlib.import_module("yfinance")
    except ImportError:
        raise ConfigError("the yfinance source needs: pip install 'cae[online]'") from None
    frame = yf.download(
        list(tickers),
        period=period,
        auto_adjust=False,
        actions=False,
        progress=False,
        group_by="column",
        multi_level_index=True,
    )
    if frame is None or frame.empty:
        raise DataError(f"yfinance returned no prices for {', '.join(tickers)}")
    return parse_download(frame)
