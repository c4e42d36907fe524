"""Trailing-window building blocks shared by the characteristics (all per ticker, all causal).

Windows count the ticker's own sessions. `min_samples` equal to the window means a value needs
the full window: a characteristic without enough history is null, never zero.
"""

from __future__ import annotations

import polars as pl

__all__ = ["MONTH", "cumulative_return", "per_ticker", "positive_log"]

MONTH = 21  # trading sessions in a month
WEEK = 5  # trading sessions in a week
HALF_YEAR = 126
YEAR = 252


def per_ticker(expr: pl.Expr) -> pl.Expr:
    """Evaluate `expr` within each ticker's own history."""
    return expr.over("ticker")


def cumulative_return(window: int, skip: int = 0) -> pl.Expr:
    """Return the compounded return of sessions t-skip-window+1 .. t-skip (needs all of them)."""
    log_growth = pl.col("ret").log1p().rolling_sum(window, min_samples=window)
    if skip:
        log_growth = log_growth.shift(skip)
    return per_ticker(log_growth.exp() - 1)


def positive_log(expr: pl.Expr) -> pl.Expr:
    """Return log(expr) where expr > 0, else null (log of no trading is missing, not -inf)."""
    return pl.when(expr > 0).then(expr.log()).otherwise(None)
