"""Characteristic-managed portfolios, the factor network's input in GKX (2021), section 2.

`x[t] = (Z'Z)^-1 Z' r[t]` with `Z = [1, X[t]]` restricted to the tickers observed at t: the
cross-sectional regression of returns on characteristics, one portfolio per characteristic plus the
intercept (the equal-weighted market). They depend only on data, never on network weights, so they
are computed once per panel.
"""

from __future__ import annotations

import torch

__all__ = ["RIDGE", "managed_portfolios"]

# Relative ridge added to Z'Z, in units of its mean diagonal. Z'Z is singular whenever a
# characteristic is constant across the observed tickers of a date (e.g. all missing -> 0) or two
# are collinear. As the ridge goes to 0 the solution tends to the minimum-norm least-squares one
# (numpy's lstsq / pinv); 1e-8 keeps float64 solves exact to ~1e-7 relative. A ridge, not
# torch.linalg.lstsq, because on CUDA lstsq only has the full-rank 'gels' driver, and a batched
# `solve` gives the same answer on CPU and GPU.
RIDGE = 1e-8
DATES_PER_CHUNK = 64  # bounds the float64 working copy of Z to 64 dates at a time


def managed_portfolios(
    X: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, ridge: float = RIDGE
) -> torch.Tensor:
    """Return the managed-portfolio returns x (T, P + 1): intercept first, then one per char.

    Only observed cells enter each date's regression, so a masked cell changes nothing. A date
    with no observed ticker gets x = 0.

    Parameters
    ----------
    X : torch.Tensor, shape (T, N, P)
    y : torch.Tensor, shape (T, N)
    mask : torch.Tensor, shape (T, N), bool
    ridge : float
        Ridge relative to the mean diagonal of Z'Z (see `RIDGE`).

    Returns
    -------
    torch.Tensor, shape (T, P + 1), dtype of X
    """
    n_dates, _, n_chars = X.shape
    out = torch.zeros((n_dates, n_chars + 1), dtype=X.dtype, device=X.device)
    eye = torch.eye(n_chars + 1, dtype=torch.float64, device=X.device)
    for start in range(0, n_dates, DATES_PER_CHUNK):
        stop = min(start + DATES_PER_CHUNK, n_dates)
        m = mask[start:stop].to(torch.float64).unsqueeze(-1)  # (C, N, 1)
        Z = torch.cat([torch.ones_like(m), X[start:stop].to(torch.float64)], dim=-1) * m
        r = y[start:stop].to(torch.float64) * m.squeeze(-1)  # (C, N)
        ZtZ = Z.transpose(1, 2) @ Z  # (C, P+1, P+1)
        Ztr = torch.einsum("cnp,cn->cp", Z, r)  # (C, P+1)
        scale = ZtZ.diagonal(dim1=1, dim2=2).mean(dim=1).clamp(min=1.0)  # (C,)
        A = ZtZ + ridge * scale[:, None, None] * eye
        out[start:stop] = torch.linalg.solve(A, Ztr.unsqueeze(-1)).squeeze(-1).to(X.dtype)
    return out
