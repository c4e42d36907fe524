"""Cross-sectional regression factors: characteristics are the betas, factors are solved per date.

The seed notebook's "pre-defined sensitivities, solve for factors" (Fama-MacBeth's first pass):
beta[t, n] = (1, X[t, n]) and f[t] is the least-squares regression of y[t] on beta[t] over the
tickers observed at t. It is IPCA with Gamma fixed to the identity, so it has P (+1) factors.
"""

from __future__ import annotations

from typing import Self

import torch

from cae.models._regress import masked_ols
from cae.models.base import FactorModel
from cae.tensors import Panel

__all__ = ["CrossSectional"]


class CrossSectional(FactorModel):
    """Characteristics as sensitivities; factors from per-date cross-sectional regressions.

    Parameters
    ----------
    intercept : bool; add a column of ones (an equal-weighted market-like factor).
    """

    name = "cross_sectional"
    # Nothing is selected on validation data, so the validation block joins training.
    fit_on_train_and_val = True

    def __init__(self, intercept: bool = True) -> None:
        self.intercept = intercept

    def fit(self, train: Panel, val: Panel | None = None) -> Self:
        """Record the training factors (T, K); there are no parameters to learn."""
        self.n_factors = train.n_chars + int(self.intercept)
        self.factor_names_ = (("const",) if self.intercept else ()) + tuple(train.char_names)
        self.factors_ = self.factors(train)
        return self

    def betas(self, panel: Panel) -> torch.Tensor:
        """Return (1, X[t, n]) (T, N, K), 0 where masked."""
        X = panel.X
        if self.intercept:
            X = torch.cat([torch.ones_like(X[..., :1]), X], dim=-1)  # (T, N, P + 1)
        return X * panel.mask.unsqueeze(-1)

    def factors(self, panel: Panel) -> torch.Tensor:
        """Return f[t] (T, K), the least-squares regression of y[t] on betas[t] over observed cells.

        A date with fewer observed tickers than factors gets the minimum-norm solution.
        """
        return masked_ols(self.betas(panel), panel.y, panel.mask).to(torch.float32)
