"""Masked least squares shared by the linear baselines, batched over dates or tickers."""

from __future__ import annotations

import torch

# Eigenvalues of a normal matrix below this fraction of its largest (singular values of the
# design below 1e-5 of the largest) count as zero: a cross-section with fewer tickers than
# regressors, or collinear characteristics, gets the minimum-norm solution, as numpy's lstsq
# gives, instead of exploding.
PINV_RTOL = 1e-10

# Batch rows are solved in chunks of about this many design cells, so the float64 working copies
# stay near 128 MB each even for a 1,409-week x 4,420-ticker x 16-column panel (800 MB at once).
CHUNK_CELLS = 16_000_000


def masked_ols(
    design: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, ridge: float = 0.0
) -> torch.Tensor:
    """Return the least-squares coefficients of each batch row over its observed cells.

    Solves min_b sum_m mask[i, m] (target[i, m] - design[i, m] . b)^2 + ridge ||b||^2 for each i
    in float64 with the pseudo-inverse of the normal matrix (the minimum-norm solution when it is
    singular).

    Parameters
    ----------
    design : torch.Tensor, shape (B, M, K)
    target : torch.Tensor, shape (B, M)
    mask : torch.Tensor, shape (B, M), bool
    ridge : float; L2 penalty on the coefficients, in units of target^2.

    Returns
    -------
    torch.Tensor, shape (B, K), float64
    """
    n_rows, n_cells, n_cols = design.shape
    step = max(1, CHUNK_CELLS // max(n_cells * n_cols, 1))
    parts = [
        _masked_ols(design[i : i + step], target[i : i + step], mask[i : i + step], ridge)
        for i in range(0, n_rows, step)
    ]
    return torch.cat(parts) if parts else design.new_zeros((0, n_cols), dtype=torch.float64)


def _masked_ols(
    design: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, ridge: float
) -> torch.Tensor:
    w = mask.to(torch.float64)
    X = design.to(torch.float64)
    Xw = X * w.unsqueeze(-1)  # (B, M, K)
    gram = torch.einsum("bmk,bml->bkl", Xw, X)  # (B, K, K)
    if ridge:
        gram = gram + ridge * torch.eye(gram.shape[-1], dtype=gram.dtype)
    rhs = torch.einsum("bmk,bm->bk", Xw, target.to(torch.float64))  # (B, K)
    pinv = torch.linalg.pinv(gram, rtol=PINV_RTOL, hermitian=True)  # (B, K, K)
    return torch.einsum("bkl,bl->bk", pinv, rhs)
