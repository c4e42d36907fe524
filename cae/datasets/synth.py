"""A synthetic daily equity market for tests and benchmarks (`cae synth`).

Returns follow a one-factor model with fat tails: r = beta * m + e, both Student-t. Tickers list
and delist during the sample, some sessions are missing, a few tickers split (raw prices jump,
volume scales, as in the real sample), and volume rises with the size of the move. Everything
comes from one `numpy.random.Generator` seeded by `SynthConfig.seed`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

__all__ = ["SynthConfig", "generate_market", "write_market"]

SECTORS = (
    "Energy",
    "Materials",
    "Industrials",
    "Consumer Discretionary",
    "Consumer Staples",
    "Health Care",
    "Financials",
    "Information Technology",
    "Telecommunications Services",
    "Utilities",
)
SPLIT_RATIOS = (2.0, 3.0, 1.5, 0.1)  # new shares per old share; 0.1 is a 1:10 reverse split


@dataclass(frozen=True)
class SynthConfig:
    """Shape of the synthetic market."""

    n_tickers: int = 500
    n_days: int = 252  # business days
    seed: int = 0
    start: dt.date = dt.date(2010, 1, 4)
    market_vol: float = 0.01  # daily volatility of the market factor
    tail_df: float = 4.0  # Student-t degrees of freedom: fat tails, finite variance
    late_listing_share: float = 0.1  # tickers that list after the first day
    delisting_share: float = 0.1  # tickers that delist before the last day
    missing_share: float = 0.005  # sessions dropped at random (halts, data gaps)
    split_share: float = 0.03  # tickers with one split or reverse split
    zero_volume_share: float = 0.002  # sessions with no trades


def _business_days(start: dt.date, n_days: int) -> np.ndarray:
    days = np.arange(np.datetime64(start), np.datetime64(start) + n_days * 2, dtype="datetime64[D]")
    weekdays = days[np.is_busday(days)]
    return weekdays[:n_days]


def _student(rng: np.random.Generator, df: float, shape: tuple[int, ...]) -> np.ndarray:
    # Scaled to unit variance so `*_vol` parameters are the actual volatilities.
    return rng.standard_t(df, shape) * np.sqrt((df - 2) / df)


def generate_market(config: SynthConfig | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (prices, tickers): raw daily OHLCV in long form and ticker metadata."""
    c = config or SynthConfig()
    rng = np.random.default_rng(c.seed)
    T, N = c.n_days, c.n_tickers
    dates = _business_days(c.start, T)
    beta = rng.normal(1.0, 0.3, N)
    idio_vol = np.exp(rng.normal(np.log(0.018), 0.35, N))
    market = c.market_vol * _student(rng, c.tail_df, (T, 1))  # (T, 1)
    ret = beta * market + idio_vol * _student(rng, c.tail_df, (T, N))  # (T, N)
    ret = np.clip(ret, -0.9, 2.0)
    close = np.exp(rng.normal(3.5, 0.8, N)) * np.cumprod(1 + ret, axis=0)  # (T, N)
    gap = 1 + 0.3 * ret + rng.normal(0, 0.003, (T, N))
    open_ = np.vstack([close[:1] / gap[:1], close[:-1]]) * gap
    wiggle = np.abs(rng.normal(0, 0.006, (T, N)))
    high = np.maximum(open_, close) * (1 + wiggle)
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.006, (T, N))))
    shares = np.exp(rng.normal(14.0, 1.0, N))
    volume = np.round(shares * np.exp(rng.normal(0, 0.4, (T, N))) * (1 + 20 * np.abs(ret)))
    volume[rng.random((T, N)) < c.zero_volume_share] = 0.0

    # Splits: raw prices from the split day on divide by the ratio, volume multiplies by it.
    factor = np.ones((T, N))
    for n in np.flatnonzero(rng.random(N) < c.split_share):
        day = rng.integers(1, T)
        factor[day:, n] = rng.choice(SPLIT_RATIOS)
    open_, high, low, close = (x / factor for x in (open_, high, low, close))
    volume = np.round(volume * factor)

    # Listings, delistings and missing sessions: a mask of observed cells.
    first = np.where(rng.random(N) < c.late_listing_share, rng.integers(0, T, N), 0)
    last = np.where(rng.random(N) < c.delisting_share, rng.integers(0, T, N), T - 1)
    last = np.maximum(first + 1, last)
    days = np.arange(T)[:, None]
    observed = (days >= first) & (days <= last) & (rng.random((T, N)) >= c.missing_share)

    t_idx, n_idx = np.nonzero(observed)
    tickers = np.array([f"S{n:05d}" for n in range(N)])
    prices = pl.DataFrame(
        {
            "ticker": tickers[n_idx],
            "date": dates[t_idx],
            "open": open_[t_idx, n_idx],
            "high": high[t_idx, n_idx],
            "low": low[t_idx, n_idx],
            "close": close[t_idx, n_idx],
            "volume": volume[t_idx, n_idx],
        }
    ).sort("ticker", "date")
    meta = pl.DataFrame(
        {
            "ticker": tickers,
            "name": [f"Synthetic {t}" for t in tickers],
            "sector": np.array(SECTORS)[rng.integers(0, len(SECTORS), N)],
            "industry": None,
        },
        schema_overrides={"industry": pl.Utf8},
    )
    return prices, meta


def write_market(
    con: duckdb.DuckDBPyConnection, prices: pl.DataFrame, tickers: pl.DataFrame
) -> int:
    """Ingest a synthetic market like any other source (validated); return rows loaded."""
    from cae.warehouse.ingest import ingest_frame, ingest_tickers

    report = ingest_frame(con, prices, source="synth", file=None)
    ingest_tickers(con, tickers, source="synth")
    return report.rows_new + report.rows_changed
