"""The estimator shape every factor model shares, so window and metric code has no special cases.

A model explains `y[t, n] ~ beta[t, n, :] . f[t, :]` on a `cae.panel.tensors.Panel`. Subclasses set
hyperparameters in `__init__` (no validation there), learn in `fit`, and implement `betas` and
`factors`; prediction and scoring come from here.
"""

from __future__ import annotations

from typing import Literal, Self

import torch

from cae.evaluation.metrics import expanding_lambda, r2_uncentered
from cae.panel.tensors import Panel

__all__ = ["FactorModel", "Kind"]

Kind = Literal["total", "predictive"]


class FactorModel:
    """Base class: `fit(train, val)` -> `betas(panel)`, `factors(panel)`, `predict`, `score`.

    Fitted state ends in `_`; every model sets `factors_` (T_train, K), the factors realised on the
    training panel, which seed lambda for predictive scoring of later dates. The attributes below
    with defaults are what evaluation and selection read; a model overrides the ones it has.
    """

    name: str = "model"
    n_factors: int
    factors_: torch.Tensor
    # A model with no early stopping or selection learns from training and validation together
    # (GKX fit PCA and IPCA on both); the others keep validation for stopping.
    fit_on_train_and_val: bool = False
    # Characteristics the model left out of its inputs for the window; None: it uses them all
    # without choosing (no `inputs` rows are written for it).
    chars_left_out_: tuple[str, ...] | None = None
    # Training dates left out of the fit because a kept characteristic was constant on them.
    n_dates_left_out_: int = 0
    # Names of the K factors (e.g. "mkt", "ls_mom12m"); None: f1..fK.
    factor_names_: tuple[str, ...] | None = None

    def fit(self, train: Panel, val: Panel | None = None) -> Self:
        """Learn from `train` (and early-stop or select on `val` when the model uses it)."""
        raise NotImplementedError

    def betas(self, panel: Panel) -> torch.Tensor:
        """Return betas (T, N, K) for every date of `panel`, from information known at that date."""
        raise NotImplementedError

    def factors(self, panel: Panel) -> torch.Tensor:
        """Return the factors (T, K) realised with each date's target cross-section `y[t]`."""
        raise NotImplementedError

    def predict(
        self, panel: Panel, kind: Kind = "total", history: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Return fitted targets (T, N): beta . f (total) or beta . lambda (predictive).

        For "predictive", lambda[t] averages `history` (default: `factors_` from training) and
        this panel's factors before t, so no prediction uses the factor of its own period.
        """
        betas = self.betas(panel)  # (T, N, K)
        f = self.factors(panel)  # (T, K)
        if kind == "predictive":
            f = expanding_lambda(f, self.factors_ if history is None else history)
        elif kind != "total":
            raise ValueError(f"kind must be 'total' or 'predictive', not {kind!r}")
        y_hat = torch.einsum("tnk,tk->tn", betas, f)
        return torch.where(panel.mask, y_hat, torch.zeros_like(y_hat))

    def score(
        self, panel: Panel, kind: Kind = "total", history: torch.Tensor | None = None
    ) -> float:
        """Return the uncentered R2 of `predict(panel, kind)` over the panel's observed cells."""
        return r2_uncentered(panel.y, self.predict(panel, kind, history), panel.mask)
