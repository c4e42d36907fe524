"""Compute every registered characteristic on the daily base frame, point in time."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from cae.errors import DataError
from cae.features.registry import REGISTRY

__all__ = ["MAX_ABS_RETURN", "check_returns", "compute_daily", "lookback_sessions"]

MAX_ABS_RETURN = 10.0  # 10.0 = 1000% in one period; beyond that it is a data error
_STAGES = (0, 1)


def lookback_sessions(names: Sequence[str] | None = None) -> int:
    """Return the ticker sessions before a date that the chosen characteristics read."""
    chosen = names if names is not None else tuple(REGISTRY)
    return max(REGISTRY[name].window for name in chosen)


def check_returns(frame: pl.DataFrame, source: str = "prices") -> None:
    """Raise a `DataError` naming the rows whose |ret| exceeds `MAX_ABS_RETURN`."""
    bad = frame.filter(pl.col("ret").abs() > MAX_ABS_RETURN)
    if bad.height:
        rows = ", ".join(
            f"{row['ticker']} {row['date']} ret={row['ret']:.4g}"
            for row in bad.head(5).iter_rows(named=True)
        )
        more = f" and {bad.height - 5} more" if bad.height > 5 else ""
        raise DataError(
            f"{source}: {bad.height} row(s) with |ret| > {MAX_ABS_RETURN:g} (1000%): "
            f"{rows}{more}; a missed split or a bad price (add a corporate-actions file row)"
        )


def compute_daily(base: pl.DataFrame, names: Sequence[str] | None = None) -> pl.DataFrame:
    """Add one column per characteristic to the daily base frame (rows sorted by ticker, date).

    The value at (d, ticker) reads that ticker's sessions up to d and the cross-section at d,
    never later rows. Non-finite results (a log of zero volume) become null: missing, never 0.
    """
    chosen = tuple(names) if names is not None else tuple(REGISTRY)
    frame = base.sort("ticker", "date")
    for stage in _STAGES:
        exprs = [
            REGISTRY[name].expr().alias(name) for name in chosen if REGISTRY[name].stage == stage
        ]
        if exprs:
            frame = frame.with_columns(exprs)
    return frame.with_columns(
        pl.when(pl.col(name).is_finite()).then(pl.col(name)).cast(pl.Float64).alias(name)
        for name in chosen
    )
