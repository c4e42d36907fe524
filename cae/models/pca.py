"""PCA with static betas: y[t, n] ~ beta[n] . f[t], the unconditional baseline of GKX (2019).

An unbalanced panel has no full covariance matrix, so the factors and betas are fitted by
alternating least squares on the observed cells only (the rank-K approximation that PCA gives on
a balanced panel). Out of sample, the factor at t is the cross-sectional regression of y[t] on the
static betas of the tickers observed at t.

Tickers never seen in training, or seen fewer than `min_obs` times, get no beta: their betas are 0,
so their fitted return is 0 (they still count in the R2 denominator), and they take no part in the
out-of-sample factor regression.

Unpenalised masked ALS overfits when factors can latch onto a few short-history tickers: on a
simulated 1,000-ticker x 400-week panel with K = 5 its out-of-sample predictive R2 was -14,465%
(a factor's scale blew up). A small ridge (nuclear-norm) penalty, the default 0.1, gave +0.20%
there with the same total R2 (4.73% vs 4.74%); see `docs/benchmarks.md`.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import torch

from cae.errors import PanelError
from cae.models._regress import masked_ols
from cae.models.base import FactorModel
from cae.panel.tensors import Panel

__all__ = ["PCA"]


class PCA(FactorModel):
    """Static-beta factor model fitted by masked alternating least squares.

    Parameters
    ----------
    n_factors : int; K.
    max_iter : int; ALS sweeps at most.
    tol : float; stop when a sweep lowers the (penalised) masked sum of squared errors by less
        than this fraction of the masked sum of y^2.
    min_obs : int; training observations a ticker needs to get a beta.
    ridge : float; L2 penalty on betas and factors alike, as a fraction of the noise edge
        rms(y) (sqrt(T) + sqrt(N)). With equal penalties ALS soft-thresholds singular values by
        that amount (nuclear-norm shrinkage), which stops a factor from latching onto a few
        short-history tickers; 0 gives plain masked least squares (and PCA on a balanced panel).
    """

    name = "pca"
    # No hyperparameter is selected on validation data, so the validation block joins training.
    fit_on_train_and_val = True

    def __init__(
        self,
        n_factors: int = 3,
        max_iter: int = 500,
        tol: float = 1e-8,
        min_obs: int = 12,
        ridge: float = 0.1,
    ) -> None:
        self.n_factors = n_factors
        self.max_iter = max_iter
        self.tol = tol
        self.min_obs = min_obs
        self.ridge = ridge

    def fit(self, train: Panel, val: Panel | None = None) -> Self:
        """Fit static betas (N, K) and factors (T, K) on the observed cells of `train`."""
        K = self.n_factors
        y = train.y.to(torch.float64)  # (T, N)
        m = train.mask
        has_beta = m.sum(dim=0) >= self.min_obs  # (N,)
        m = m & has_beta.unsqueeze(0)
        if int(has_beta.sum()) < K or int(m.any(dim=1).sum()) < K:
            raise PanelError(
                f"PCA with {K} factors needs at least {K} tickers with {self.min_obs}+ "
                f"training observations and {K} dates; the training panel has "
                f"{int(has_beta.sum())} such tickers"
            )
        beta = _svd_start(torch.where(m, y, 0.0), K)  # (N, K)
        sse_total = float((torch.where(m, y, 0.0) ** 2).sum())
        n_obs = int(m.sum())
        edge = (sse_total / max(n_obs, 1)) ** 0.5 * (m.shape[0] ** 0.5 + int(has_beta.sum()) ** 0.5)
        self.ridge_ = self.ridge * edge
        loss_old = sse_total
        for _ in range(self.max_iter):
            f = masked_ols(beta.expand(y.shape[0], -1, -1), y, m, self.ridge_)  # (T, K)
            beta = masked_ols(f.expand(y.shape[1], -1, -1), y.T, m.T, self.ridge_)  # (N, K)
            resid = torch.where(m, y - f @ beta.T, 0.0)
            # ALS lowers the penalised loss every sweep (not always the plain SSE): track it.
            penalty = self.ridge_ * float((f * f).sum() + (beta * beta).sum())
            loss = float((resid * resid).sum()) + penalty
            if loss_old - loss <= self.tol * sse_total:
                break
            loss_old = loss
        beta, f = _normalise(beta, f)
        # Rotation leaves round-off in rows that must be exactly zero.
        beta = beta * has_beta.unsqueeze(1)
        self.tickers_ = np.asarray(train.tickers)
        self.beta_ = beta  # (N_train, K), 0 for tickers without a beta
        self.has_beta_ = has_beta  # (N_train,)
        self.factors_ = f.to(torch.float32)  # (T, K)
        return self

    def _static(self, panel: Panel) -> tuple[torch.Tensor, torch.Tensor]:
        """Return this panel's tickers' betas (N, K) and whether each has one (N,)."""
        if np.array_equal(panel.tickers, self.tickers_):
            return self.beta_, self.has_beta_
        pos = {t: i for i, t in enumerate(self.tickers_)}
        idx = torch.tensor([pos.get(t, -1) for t in panel.tickers])
        known = idx >= 0
        beta = torch.zeros((len(idx), self.n_factors), dtype=torch.float64)
        beta[known] = self.beta_[idx[known]]
        has = torch.zeros(len(idx), dtype=torch.bool)
        has[known] = self.has_beta_[idx[known]]
        return beta, has

    def betas(self, panel: Panel) -> torch.Tensor:
        """Return the static betas repeated over dates (T, N, K), 0 where masked or unknown."""
        beta, _ = self._static(panel)
        out = beta.to(torch.float32).expand(panel.n_dates, -1, -1)  # (T, N, K)
        return out * panel.mask.unsqueeze(-1)

    def factors(self, panel: Panel) -> torch.Tensor:
        """Return f[t] (T, K): regression of y[t] on the betas of tickers observed at t.

        With `ridge`, the same penalty as in training applies, so factors keep their scale.
        """
        beta, has = self._static(panel)
        design = beta.expand(panel.n_dates, -1, -1)  # (T, N, K)
        f = masked_ols(design, panel.y, panel.mask & has.unsqueeze(0), self.ridge_)
        return f.to(torch.float32)


def _svd_start(y_filled: torch.Tensor, K: int) -> torch.Tensor:
    """Return starting betas (N, K): the top right singular vectors of the zero-filled panel."""
    _, s, vh = torch.linalg.svd(y_filled, full_matrices=False)
    return vh[:K].T * s[:K]


def _normalise(beta: torch.Tensor, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate to orthogonal components with balanced scale: beta'beta = f'f, diagonal, decreasing.

    With beta f' = U S V' this gives beta = U S^1/2 and f = V S^1/2 (mean f >= 0), the form the
    ridge-penalised ALS converges to, so the penalised factor regression out of sample stays
    consistent with training. beta f' is unchanged, so fitted values do not depend on this.
    """
    q, r = torch.linalg.qr(beta)  # beta = q r
    f = f @ r.T
    evals, evecs = torch.linalg.eigh(f.T @ f)
    rot = evecs[:, torch.argsort(evals, descending=True)]
    beta, f = q @ rot, f @ rot  # beta'beta = I, f'f diagonal
    scale = f.norm(dim=0).clamp(min=1e-300).sqrt()  # (K,)
    sign = torch.where(f.mean(dim=0) < 0, -1.0, 1.0).to(f.dtype)
    return beta * scale * sign, f / scale * sign
