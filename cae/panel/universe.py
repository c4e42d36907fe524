"""Universe filters: which (date, ticker) rows the models see, decided with data up to the date.

Filters apply in order (price, then history, then dollar volume) and the per-date counts after
each are kept in `universe_counts`, so a shrinking universe is visible rather than silent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

__all__ = ["UniverseConfig", "flag_universe", "universe_counts"]


@dataclass(frozen=True)
class UniverseConfig:
    """Universe filter thresholds (all evaluated on data up to the row's date)."""

    # Raw (unadjusted) close in USD at least this: keeps sub-dollar prints out.
    min_price: float = 1.0
    # Sessions the ticker has traded so far, the date included: one month of history.
    min_history: int = 21
    # Mean daily dollar volume over the last 21 sessions (USD), exp(dolvol).
    min_dollar_volume: float = 100_000.0


def _filters(config: UniverseConfig) -> dict[str, pl.Expr]:
    price = pl.col("close") >= config.min_price
    history = price & (pl.col("n_obs") >= config.min_history)
    dollar_volume = history & (
        pl.col("dolvol").fill_null(-math.inf) >= math.log(config.min_dollar_volume)
    )
    return {"n_price": price, "n_history": history, "n_dollar_volume": dollar_volume}


def flag_universe(frame: pl.DataFrame, config: UniverseConfig) -> pl.DataFrame:
    """Add `is_in_universe` (bool) from `close`, `n_obs` and `dolvol`."""
    return frame.with_columns(_filters(config)["n_dollar_volume"].alias("is_in_universe"))


def universe_counts(frame: pl.DataFrame, config: UniverseConfig, freq: str) -> pl.DataFrame:
    """Return one row per date: tickers in total and after each filter."""
    filters = _filters(config)
    return (
        frame.group_by("date")
        .agg(
            pl.len().cast(pl.Int64).alias("n_total"),
            *[expr.sum().cast(pl.Int64).alias(name) for name, expr in filters.items()],
        )
        .with_columns(pl.lit(freq).alias("freq"), pl.col("n_dollar_volume").alias("n_universe"))
        .select("freq", "date", "n_total", "n_price", "n_history", "n_dollar_volume", "n_universe")
        .sort("date")
    )
