"""Masked least squares shared by the linear baselines, batched over dates or tickers."""

from __future__ import annotations

import torch

# Singular values below this fraction of the largest count as zero: a cross-section with fewer
# tickers than regressors (or collinear characteristics) gets the minimum-norm solution, as
# numpy's lstsq gives, instead of exploding.
PINV_RTOL = 1e-10


def masked_ols(design: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return the least-squares coefficients of each batch row over its observed cells.

    Solves min_b sum_m mask[i, m] (target[i, m] - design[i, m] . b)^2 for each i in float64 with
    the pseudo-inverse of the normal matrix (the minimum-norm solution when it is singular).

    Parameters
    ----------
    design : torch.Tensor, shape (B, M, K)
    target : torch.Tensor, shape (B, M)
    mask : torch.Tensor, shape (B, M), bool

    Returns
    -------
    torch.Tensor, shape (B, K), float64
    """
    w = mask.to(torch.float64)
    Xw = design.to(torch.float64) * w.unsqueeze(-1)  # (B, M, K)
    gram = torch.einsum("bmk,bml->bkl", Xw, design.to(torch.float64))  # (B, K, K)
    rhs = torch.einsum("bmk,bm->bk", Xw, target.to(torch.float64))  # (B, K)
    # PINV_RTOL applies to eigenvalues of the gram matrix, i.e. squared singular values.
    pinv = torch.linalg.pinv(gram, rtol=PINV_RTOL, hermitian=True)  # (B, K, K)
    return torch.einsum("bkl,bl->bk", pinv, rhs)
