"""Compute every registered characteristic on the daily base frame, point in time."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from cae.errors import DataError
from cae.features.registry import REGISTRY
from cae.schemas import PANEL_MAX_ABS_RETURN

__all__ = [
    "MAX_ABS_RETURN",
    "add_cross_sectional",
    "check_returns",
    "compute_daily",
    "lookback_sessions",
    "stage_names",
]

MAX_ABS_RETURN = PANEL_MAX_ABS_RETURN  # 10.0 = 1000% in one period: beyond it, a data error
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


def stage_names(stage: int, names: Sequence[str] | None = None) -> tuple[str, ...]:
    """Return the chosen characteristics of one stage, in registry order."""
    chosen = tuple(names) if names is not None else tuple(REGISTRY)
    return tuple(name for name in chosen if REGISTRY[name].stage == stage)


def _add(frame: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame:
    if not names:
        return frame
    # Evaluate on a projection and attach the results as new columns, so the frame's other
    # columns are shared, never copied (the daily panel holds millions of rows).
    values = frame.select(REGISTRY[name].expr().alias(name) for name in names)
    # Non-finite results (a log of zero volume) become null: missing, never 0 or inf.
    values = values.select(
        pl.when(pl.col(name).is_finite()).then(pl.col(name)).cast(pl.Float64).alias(name)
        for name in names
    )
    return frame.with_columns(values.get_columns())


def compute_daily(base: pl.DataFrame, names: Sequence[str] | None = None) -> pl.DataFrame:
    """Add one column per characteristic to the daily base frame, sorted by ticker and date.

    The value at (d, ticker) reads that ticker's sessions up to d and the cross-section at d,
    never later rows. Stage-1 characteristics here use the daily cross-section.
    """
    frame = base.sort("ticker", "date")
    for stage in _STAGES:
        frame = _add(frame, stage_names(stage, names))
    return frame


def add_cross_sectional(panel: pl.DataFrame, names: Sequence[str] | None = None) -> pl.DataFrame:
    """Add the stage-1 characteristics to panel rows that already hold the stage-0 ones.

    The build computes stage 0 ticker by ticker in chunks, then this on the whole panel, so a
    cross-section (sector means) sees every ticker at the panel's own dates.
    """
    return _add(panel, stage_names(1, names))
