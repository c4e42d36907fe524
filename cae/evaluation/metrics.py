"""Out-of-sample fit metrics, pooled and uncentered as in Gu, Kelly & Xiu (2019), section 2.3.

Total R2 measures how well realised factors and betas explain returns; predictive R2 replaces the
realised factors with lambda, the mean of factors known before the date, so it measures how well
the model predicts returns. Both are uncentered: the benchmark is a zero return, not the mean.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

__all__ = [
    "expanding_lambda",
    "r2_pooled",
    "r2_uncentered",
    "sharpe_ratio",
    "sse_and_ssy",
    "tangency_sharpe",
]


def r2_uncentered(y: torch.Tensor, y_hat: torch.Tensor, mask: torch.Tensor) -> float:
    """Return 1 - sum (y - y_hat)^2 / sum y^2 over the observed cells (GKX eq. 13-14).

    Parameters
    ----------
    y, y_hat : torch.Tensor, shape (T, N)
    mask : torch.Tensor, shape (T, N), bool; cells outside the mask are ignored.
    """
    y = y.double()[mask]
    err = y - y_hat.double()[mask]
    denom = float((y * y).sum())
    if denom == 0.0:
        return float("nan")
    return 1.0 - float((err * err).sum()) / denom


def expanding_lambda(factors: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
    """Return lambda[t], the mean of the factors strictly before t (GKX: predictive R2).

    `history` holds factors from earlier dates (e.g. the training block), which count as known
    before every row of `factors`. Row 0 with no history has nothing known yet and gets zeros.

    Parameters
    ----------
    factors : torch.Tensor, shape (T, K)
    history : torch.Tensor, shape (H, K), optional

    Returns
    -------
    torch.Tensor, shape (T, K)
    """
    n_dates, n_factors = factors.shape
    if history is None:
        history = factors.new_zeros((0, n_factors))
    # Exclusive cumsum by shifting, not cumsum - f: the subtraction would let f[t] leak into
    # lambda[t] through rounding.
    shifted = torch.cat([history.sum(dim=0, keepdim=True), factors[:-1]], dim=0)  # (T, K)
    prior_sum = torch.cumsum(shifted, dim=0)  # (T, K)
    prior_count = history.shape[0] + torch.arange(n_dates, device=factors.device)  # (T,)
    lam = prior_sum / prior_count.clamp(min=1).unsqueeze(1).to(factors.dtype)
    lam[prior_count == 0] = 0.0
    return lam


def sse_and_ssy(y: torch.Tensor, y_hat: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    """Return (sum (y - y_hat)^2, sum y^2) over the observed cells: the parts of a pooled R2."""
    y = y.double()[mask]
    err = y - y_hat.double()[mask]
    return float((err * err).sum()), float((y * y).sum())


def r2_pooled(parts: Iterable[tuple[float, float]]) -> float:
    """Return 1 - sum SSE / sum y^2 over windows (GKX pool all test cells; not a mean of R2s).

    Parameters
    ----------
    parts : iterable of (sse, ssy) pairs, one per window, from `sse_and_ssy`.
    """
    sse = ssy = 0.0
    for window_sse, window_ssy in parts:
        sse += window_sse
        ssy += window_ssy
    return float("nan") if ssy == 0.0 else 1.0 - sse / ssy


def sharpe_ratio(returns: torch.Tensor, periods_per_year: float) -> float:
    """Return the annualised Sharpe ratio mean / std * sqrt(periods_per_year) of a (T,) series.

    NaN periods are dropped; the std uses T - 1 degrees of freedom; fewer than 2 periods or a zero
    std give NaN.
    """
    r = returns.double()
    r = r[~torch.isnan(r)]
    if r.numel() < 2:
        return float("nan")
    std = float(r.std())
    return float("nan") if std == 0.0 else float(r.mean()) / std * math.sqrt(periods_per_year)


def tangency_sharpe(
    factors: torch.Tensor, periods_per_year: float, history: torch.Tensor | None = None
) -> float:
    """Return the annualised Sharpe ratio of the factors' tangency (max-Sharpe) portfolio.

    Without `history` this is the in-sample maximum, sqrt(mu' Sigma^-1 mu * periods_per_year),
    from the sample mean and covariance (T - 1 degrees of freedom) of `factors`. With `history`
    (factors known earlier, e.g. the training block), the weights Sigma^-1 mu come from the
    history alone and the result is the realised Sharpe ratio of that portfolio on `factors`: an
    out-of-sample number with no look-ahead in the weights.

    Parameters
    ----------
    factors : torch.Tensor, shape (T, K)
    periods_per_year : float; 12 for months, 52 for weeks.
    history : torch.Tensor, shape (H, K), optional
    """
    source = (factors if history is None else history).double()
    mu = source.mean(dim=0)  # (K,)
    centred = source - mu
    cov = centred.T @ centred / max(source.shape[0] - 1, 1)  # (K, K)
    weights = torch.linalg.pinv(cov, hermitian=True) @ mu  # (K,)
    if history is None:
        return math.sqrt(max(float(mu @ weights), 0.0) * periods_per_year)
    return sharpe_ratio(factors.double() @ weights, periods_per_year)
