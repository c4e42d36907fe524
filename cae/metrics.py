"""Out-of-sample fit metrics, pooled and uncentered as in Gu, Kelly & Xiu (2019), section 2.3.

Total R2 measures how well realised factors and betas explain returns; predictive R2 replaces the
realised factors with lambda, the mean of factors known before the date, so it measures how well
the model predicts returns. Both are uncentered: the benchmark is a zero return, not the mean.
"""

from __future__ import annotations

import torch

__all__ = ["expanding_lambda", "r2_uncentered"]


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
