"""Compute every registered characteristic on the daily base frame, point in time."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from cae.errors import DataError
from cae.panel.features.kernel import KERNEL_NAMES, kernel_values
from cae.panel.features.registry import REGISTRY
from cae.panel.features.windows import ROW, SESSION, TICKER_RUN, helper_columns, running_totals
from cae.warehouse.schemas import PANEL_MAX_ABS_RETURN

__all__ = [
    "MAX_ABS_RETURN",
    "add_cross_sectional",
    "add_daily_columns",
    "check_returns",
    "compute_daily",
    "lookback_sessions",
    "stage_names",
]

MAX_ABS_RETURN = PANEL_MAX_ABS_RETURN  # 10.0 = 1000% in one period: beyond it, a data error


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


def _is_sorted(frame: pl.DataFrame) -> bool:
    ticker, date = pl.col("ticker"), pl.col("date")
    step = (ticker > ticker.shift(1)) | ((ticker == ticker.shift(1)) & (date > date.shift(1)))
    return bool(frame.select(step.slice(1).all()).item()) if frame.height > 1 else True


def _with_sessions(frame: pl.DataFrame) -> pl.LazyFrame:
    # The helper columns windows.py masks with; they need rows sorted by ticker and date.
    # Whole-column operations only: an int_range per ticker (`.over`) costs ten times more.
    ticker = pl.col("ticker")
    is_first = (ticker != ticker.shift(1)).fill_null(True)
    first_row = pl.when(is_first).then(pl.col(ROW)).forward_fill()
    return (
        frame.lazy()
        .with_columns(pl.int_range(pl.len(), dtype=pl.Int32).alias(ROW))
        .with_columns(
            is_first.cast(pl.Int32).cum_sum().set_sorted().alias(TICKER_RUN),
            (pl.col(ROW) - first_row).alias(SESSION),
        )
    )


def compute_daily(base: pl.DataFrame, names: Sequence[str] | None = None) -> pl.DataFrame:
    """Add one column per characteristic to the daily base frame, sorted by ticker and date.

    The value at (d, ticker) reads that ticker's sessions up to d and the cross-section at d,
    never later rows. Stage-1 characteristics here use the daily cross-section. The stage-0
    ones come from the compiled kernel (`kernel.py`) where it applies, else from the
    registered expressions; both give the same values (1e-12 relative, the same nulls).
    """
    frame = base if _is_sorted(base) else base.sort("ticker", "date")
    stage_zero = stage_names(0, names)
    # The compiled kernel computes what it can, the expressions (which define the values) the
    # rest: a newly registered characteristic works before the kernel learns it.
    compiled = [name for name in stage_zero if name in KERNEL_NAMES]
    values = kernel_values(frame, compiled)
    if values is not None:
        frame = frame.with_columns(values.get_columns())
        rest = [name for name in stage_zero if name not in KERNEL_NAMES]
        frame = _add(frame, rest, sessions=True)
        if rest:
            columns = [c for c in frame.columns if c not in stage_zero]
            frame = frame.select(*columns, *stage_zero)
    else:
        frame = _add(frame, stage_zero, sessions=True)
    return _add(frame, stage_names(1, names))


def add_cross_sectional(panel: pl.DataFrame, names: Sequence[str] | None = None) -> pl.DataFrame:
    """Add the stage-1 characteristics to panel rows that already hold the stage-0 ones.

    The build computes stage 0 ticker by ticker in chunks, then this on the whole panel, so a
    cross-section (sector means) sees every ticker at the panel's own dates.
    """
    return _add(panel, stage_names(1, names))


def add_daily_columns(frame: pl.DataFrame, exprs: Sequence[pl.Expr]) -> pl.DataFrame:
    """Evaluate per-ticker expressions (built like characteristics) on `compute_daily`'s frame.

    For columns that are not characteristics, such as which input a characteristic used
    (`cae.panel.proxy_sources`): they see the same helper columns, and their values are not cast.
    """
    if not exprs:
        return frame
    return frame.with_columns(_evaluate(frame, exprs, sessions=True).get_columns())


def _add(frame: pl.DataFrame, names: Sequence[str], *, sessions: bool = False) -> pl.DataFrame:
    if not names:
        return frame
    exprs = [REGISTRY[name].expr().alias(name) for name in names]
    values = _evaluate(frame, exprs, sessions=sessions).cast(pl.Float64)
    # Non-finite results (a log of zero volume) become null: missing, never 0 or inf. Reading
    # every column once is cheaper than rewriting each; only those with an inf or NaN (rare)
    # are rewritten.
    finite = values.select(pl.all().is_finite().all()).row(0, named=True)
    broken = [name for name in names if finite[name] is False]
    if broken:
        values = values.with_columns(
            pl.when(pl.col(name).is_finite()).then(pl.col(name)).alias(name) for name in broken
        )
    # Attach the results as new columns, so the frame's other columns are shared, never copied
    # (the daily panel holds millions of rows).
    return frame.with_columns(values.get_columns())


def _evaluate(frame: pl.DataFrame, exprs: Sequence[pl.Expr], *, sessions: bool) -> pl.DataFrame:
    # The helper columns the expressions share first, each once, then every expression in one
    # query, spread over Polars' threads.
    source = _with_sessions(frame) if sessions else frame.lazy()
    first, running = helper_columns(exprs)
    if first:
        source = source.with_columns(first)
    if running:
        helpers = source.collect()
        source = helpers.with_columns(running_totals(helpers, running)).lazy()
        del helpers  # frees the summands: each total replaces its summand under the same name
    return source.select(exprs).collect()
