"""Market beta and idiosyncratic volatility from a rolling regression (Fama & MacBeth 1973).

ret(s) = a + beta * mkt_ret(s) + e(s) over the ticker's last 252 sessions, at least 126 of them
with both returns (Green, Hand & Zhang use 3 years of weekly returns with at least 52; daily
data gives the same precision in one year). The market return is the equal-weighted mean of
all tickers' returns that day (no shares outstanding, so no value weights).
"""

from __future__ import annotations

import polars as pl

from cae.panel.features.registry import characteristic
from cae.panel.features.windows import HALF_YEAR, YEAR, trailing_count, trailing_sum

__all__: list[str] = []

BETA_WINDOW = YEAR
BETA_MIN_SESSIONS = HALF_YEAR


def _pair_sums() -> dict[str, pl.Expr]:
    # Shared by beta and idiovol: the same running totals, computed once by the engine.
    both = pl.col("ret").is_not_null() & pl.col("mkt_ret").is_not_null()
    y = pl.when(both).then(pl.col("ret"))
    x = pl.when(both).then(pl.col("mkt_ret"))

    def total(expr: pl.Expr) -> pl.Expr:
        return trailing_sum(expr, BETA_WINDOW, BETA_MIN_SESSIONS, valid=both)

    n = trailing_count(both, BETA_WINDOW)
    return {
        "n": pl.when(n >= BETA_MIN_SESSIONS).then(n.cast(pl.Float64)),
        "sx": total(x),
        "sy": total(y),
        "sxx": total(x * x),
        "sxy": total(x * y),
        "syy": total(y * y),
    }


def _centred() -> tuple[pl.Expr, pl.Expr, pl.Expr, pl.Expr]:
    s = _pair_sums()
    sxx = s["sxx"] - s["sx"] * s["sx"] / s["n"]
    sxy = s["sxy"] - s["sx"] * s["sy"] / s["n"]
    syy = s["syy"] - s["sy"] * s["sy"] / s["n"]
    return s["n"], sxx, sxy, syy


@characteristic("beta", window=BETA_WINDOW, inputs=("ret", "mkt_ret"))
def beta() -> pl.Expr:
    """OLS slope of daily returns on the market return over the last 252 sessions (min 126)."""
    _, sxx, sxy, _ = _centred()
    return pl.when(sxx > 0).then(sxy / sxx)


@characteristic("betasq", window=BETA_WINDOW, stage=1, inputs=("beta",))
def betasq() -> pl.Expr:
    """Square of beta."""
    return pl.col("beta") ** 2


@characteristic("idiovol", window=BETA_WINDOW, inputs=("ret", "mkt_ret"))
def idiovol() -> pl.Expr:
    """Return the std of the beta regression's residuals (n - 2 degrees of freedom)."""
    n, sxx, sxy, syy = _centred()
    residual_ss = (syy - sxy * sxy / sxx).clip(lower_bound=0.0)
    return pl.when((sxx > 0) & (n > 2)).then((residual_ss / (n - 2)).sqrt())
