"""Decile long-short portfolios sorted on predicted returns (GKX 2021, Table 3).

At each test date the observed tickers are sorted on the model's predictive fit (beta times
lambda, known before the date's return); the portfolio is long the top decile and short the
bottom one, equal-weighted, and its return is the difference of the two legs' mean returns.
Each leg holds the n // 10 tickers with the highest (lowest) predictions, at least one, so a
small cross-section still has both legs; ties keep ticker order. Value weights need market
equity, which the frozen panel does not carry (its characteristics are per-date ranks), so only
equal-weighted returns are produced.

The summary (`long_short_summary`) annualises by the panel frequency: mean x periods, volatility
x sqrt(periods), Sharpe ratio = mean / volatility, and the maximum drawdown of the cumulative
return sum r, since a long-short portfolio holds a fixed notional and its returns add.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import torch

from cae.evaluation.metrics import sharpe_ratio
from cae.panel.tensors import Panel

__all__ = [
    "LONG_SHORT_SCHEMA",
    "PERIODS_PER_YEAR",
    "long_short_returns",
    "long_short_rows",
    "long_short_summary",
    "max_drawdown",
]

N_GROUPS = 10  # deciles
MIN_TICKERS = 2  # one ticker per leg
PERIODS_PER_YEAR = {"daily": 252, "weekly": 52, "monthly": 12}  # trading periods in a year

LONG_SHORT_SCHEMA = {
    "window_id": pl.Int64,
    "model": pl.String,
    "date": pl.Date,
    "n_leg": pl.Int64,  # tickers in each leg
    "ret_ew": pl.Float64,  # equal-weighted top-minus-bottom decile return
}


def long_short_returns(
    y: torch.Tensor, y_hat: torch.Tensor, mask: torch.Tensor, n_groups: int = N_GROUPS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the top-minus-bottom group return (T,) and the tickers per leg (T,).

    Parameters
    ----------
    y, y_hat : torch.Tensor, shape (T, N); realised and predicted returns.
    mask : torch.Tensor, shape (T, N), bool
    n_groups : int; 10 for deciles.

    Returns
    -------
    (torch.Tensor, torch.Tensor), shapes (T,), (T,)
        float64 returns, NaN on a date with fewer than 2 observed tickers; int64 leg sizes.
    """
    n_obs = mask.sum(dim=1, keepdim=True)  # (T, 1)
    # Masked cells sort last, so the observed tickers hold ranks 0..n_obs-1.
    key = torch.where(mask, y_hat.double(), torch.inf)
    rank = torch.argsort(torch.argsort(key, dim=1, stable=True), dim=1, stable=True)
    n_leg = (n_obs // n_groups).clamp(min=1)  # (T, 1)
    top = mask & (rank >= n_obs - n_leg)
    bottom = mask & (rank < n_leg)
    yd = y.double()
    spread = ((yd * top).sum(dim=1) - (yd * bottom).sum(dim=1)) / n_leg.squeeze(1)  # (T,)
    spread[n_obs.squeeze(1) < MIN_TICKERS] = torch.nan
    return spread, n_leg.squeeze(1)


def long_short_rows(window_id: int, model: str, test: Panel, y_pred: torch.Tensor) -> pl.DataFrame:
    """Return one row per test date with at least two observed tickers (the table's rows)."""
    spread, n_leg = long_short_returns(test.y, y_pred, test.mask)
    keep = ~torch.isnan(spread)
    dates = np.asarray(test.dates, dtype="datetime64[D]")[keep.cpu().numpy()]
    return pl.DataFrame(
        {
            "window_id": window_id,
            "model": model,
            "date": pl.Series(dates).cast(pl.Date),
            "n_leg": n_leg[keep].cpu().numpy(),
            "ret_ew": spread[keep].cpu().numpy(),
        },
        schema=LONG_SHORT_SCHEMA,
    )


def max_drawdown(returns: torch.Tensor) -> float:
    """Return the largest fall of the cumulative return sum r from an earlier peak (>= 0).

    The peak starts at 0 (nothing invested yet), so a first-period loss counts.
    """
    wealth = torch.cumsum(returns.double(), dim=0)  # (T,)
    peak = torch.cummax(torch.cat([wealth.new_zeros(1), wealth]), dim=0).values[1:]
    return float((peak - wealth).max()) if wealth.numel() else float("nan")


def long_short_summary(rows: pl.DataFrame, periods_per_year: float) -> pl.DataFrame:
    """Return per model: test dates, annualised mean, volatility, Sharpe ratio, max drawdown.

    `rows` are `long_short` rows; dates are taken in order across windows.
    """
    out = []
    for (model,), group in rows.sort("date", "window_id").group_by("model", maintain_order=True):
        r = torch.tensor(group["ret_ew"].to_numpy())
        out.append(
            {
                "model": model,
                "n_dates": r.numel(),
                "mean_annual": float(r.mean()) * periods_per_year,
                "volatility_annual": float(r.std()) * math.sqrt(periods_per_year),
                "sharpe_annual": sharpe_ratio(r, periods_per_year),
                "max_drawdown": max_drawdown(r),
            }
        )
    return pl.DataFrame(out)
