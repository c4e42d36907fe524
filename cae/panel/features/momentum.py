"""Return-based characteristics: momentum and reversal (Gu, Kelly & Xiu 2019, table A.6).

Months are 21 sessions. Skip-month windows leave out the most recent month, as in
Jegadeesh & Titman (1993) and Green, Hand & Zhang (2017).
"""

from __future__ import annotations

import polars as pl

from cae.panel.features.registry import characteristic
from cae.panel.features.windows import (
    HALF_YEAR,
    MONTH,
    WEEK,
    YEAR,
    cumulative_return,
    lagged,
    trailing_max,
    trailing_std,
)

__all__: list[str] = []


@characteristic("mom1m", window=MONTH, inputs=("ret",))
def mom1m() -> pl.Expr:
    """Compounded return over the last 21 sessions, t-20..t (1-month momentum)."""
    return cumulative_return(MONTH)


@characteristic("mom6m", window=HALF_YEAR, inputs=("ret",))
def mom6m() -> pl.Expr:
    """Compounded return over sessions t-125..t-21 (months t-6..t-2, skip month)."""
    return cumulative_return(HALF_YEAR - MONTH, skip=MONTH)


@characteristic("mom12m", window=YEAR, inputs=("ret",))
def mom12m() -> pl.Expr:
    """Compounded return over sessions t-251..t-21 (months t-12..t-2, skip month)."""
    return cumulative_return(YEAR - MONTH, skip=MONTH)


@characteristic("mom36m", window=3 * YEAR, inputs=("ret",))
def mom36m() -> pl.Expr:
    """Compounded return over sessions t-755..t-252 (months t-36..t-13)."""
    return cumulative_return(2 * YEAR, skip=YEAR)


@characteristic("chmom", window=YEAR, inputs=("ret",))
def chmom() -> pl.Expr:
    """Return over t-125..t minus return over t-251..t-126 (change in 6-month momentum)."""
    recent = cumulative_return(HALF_YEAR)
    return recent - lagged(recent, HALF_YEAR)


@characteristic("strev", window=WEEK, inputs=("ret",))
def strev() -> pl.Expr:
    """Compounded return over the last 5 sessions, t-4..t (short-term reversal)."""
    return cumulative_return(WEEK)


@characteristic("maxret", window=MONTH, inputs=("ret",))
def maxret() -> pl.Expr:
    """Largest daily return over the last 21 sessions."""
    return trailing_max(pl.col("ret"), MONTH)


@characteristic("retvol", window=MONTH, inputs=("ret",))
def retvol() -> pl.Expr:
    """Return the std (ddof 1) of daily returns over the last 21 sessions."""
    return trailing_std(pl.col("ret"), MONTH)
