"""`ConditionalAutoencoder`: the CA family behind the shared `FactorModel` estimator shape.

An ensemble's members identify their factors only up to rotation, so betas and factors cannot be
averaged member by member. GKX (2021) average the members' fits; here the ensemble is exposed
as one factor model with the members' factors side by side: `betas` (T, N, S*K) holds each
member's betas divided by S (the number of seeds) and `factors` (T, S*K) each member's factors, so
`beta . f` is exactly the average of the members' fits, and `beta . lambda` the average of their
predictive fits. With one seed these are the plain K-factor betas and factors.

Characteristics absent on a date (constant across tickers) follow `cae.models._chars`, as in
IPCA: one that varies on more than half of the training dates is kept and the training and
validation dates on which it is constant are masked out of the loss and of early stopping
(`n_dates_left_out_` counts the training ones); one absent more often is left out of the
networks' inputs for the window (`chars_left_out_`). On the bundled daily sample, whose first
106 of 225 dates lack half the characteristics (0 for every ticker), CA1 (K = 3, 2 seeds, lr
1e-2, L1 1e-6) trained on all 20 in the second window kept the weights of epochs 1 and 2
(validation total R2 -671%, test -1.0%); without the absent ones it kept epochs 29 and 30
(validation 47%, test 59.6%), and the pooled test total R2 of `cae run` went from 32.7% to 48.5%
(CA2: 28.2% to 53.3%) with the earlier rule, which left out any characteristic constant on some
training date (4 of 20 in every window, as the first date has only four). This rule keeps 8
(leaving out the first date) and moved the pooled test total R2 of CA0 / CA1 / CA2 from 47.4 /
48.5 / 53.3% to 55.5 / 51.2 / 55.1% (predictive: -0.91 / -1.33 / -0.91% to -0.92 / -0.95 /
-1.04%). Factors of a date on which a kept characteristic is constant are the mean of the fitted
dates' training factors (`factor_mean_`), so lambda is the mean over fitted dates. A panel whose
characteristics vary on every training date is used unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Self

import torch

from cae.errors import ConfigError
from cae.models._chars import (
    FitInputs,
    constant_dates,
    fill_constant_dates,
    fit_inputs,
    keep_chars,
    without_dates,
)

# `cae.models.autoencoder.train` imports `cae.models.autoencoder.model`, which runs this package's
# `__init__`, which imports this
# module. Binding the module (not names from it) lets either side be imported first: the names
# are looked up when a model is fitted, by which time both modules are complete.
from cae.models.autoencoder import train as training
from cae.models.autoencoder.model import CAConfig, CAStack, regression_factors
from cae.models.base import FactorModel
from cae.panel.tensors import Panel

if TYPE_CHECKING:
    from cae.models.autoencoder.train import TrainHistory

__all__ = ["ConditionalAutoencoder"]


EVAL_DATES_PER_CHUNK = 64  # bounds the dense evaluation pass to 64 dates of activations


class ConditionalAutoencoder(FactorModel):
    """A conditional autoencoder (CA0..CA3, CA-seed) trained as an ensemble of seeds.

    Parameters
    ----------
    config : CAConfig
        Architecture, training and ensemble settings; `CAConfig.preset("CA2")` for a variant.
    """

    def __init__(self, config: CAConfig | None = None):
        self.config = config if config is not None else CAConfig()
        self.name = self.config.name
        self.n_factors = self.config.n_factors

    def fit(self, train: Panel, val: Panel | None = None) -> Self:
        """Train the ensemble on `train`, early-stopping on `val`; sets `net_`, `factors_`.

        Characteristics constant across tickers on more than half of the dates of `train` are
        left out first, then the dates on which a kept one is constant are masked (see the
        module docstring); `chars_left_out_` names the former, `n_dates_left_out_` counts the
        training dates masked. With a learning-rate or L1 grid every pair is trained and the
        one with the best validation total R2 is kept (GKX's selection, per window):
        `selected_config_` is its config and `grid_scores_` the validation R2 of each pair.
        """
        grid = self.config.grid()
        if len(grid) == 1:
            self.fit_many([self.config], train, val, into=[self])
            self.selected_config_, self.grid_scores_ = self.config, ()
            return self
        if val is None or val.n_dates == 0:
            raise ConfigError(f"{self.name}: a learning-rate x L1 grid needs a validation block")
        fitted = self.fit_many(grid, train, val)
        scores = [model.score(val, "total") for model in fitted]
        best = max(range(len(grid)), key=lambda i: (_or_minus_inf(scores[i]), -i))
        config = self.config
        self.__dict__.update(fitted[best].__dict__)
        self.config, self.name = config, config.name
        self.selected_config_, self.grid_scores_ = grid[best], tuple(scores)
        return self

    @classmethod
    def fit_many(
        cls,
        configs: Sequence[CAConfig],
        train: Panel,
        val: Panel | None = None,
        into: Sequence[ConditionalAutoencoder] | None = None,
    ) -> list[ConditionalAutoencoder]:
        """Fit a grid of configs, training those that share an architecture in one stack.

        `into` are unfitted models to fit in place (one per config); new ones by default.
        """
        inputs = fit_inputs(train)
        fit_val = None
        if val is not None:
            val_kept = keep_chars(val, inputs.keep)
            fit_val = without_dates(val_kept, constant_dates(val_kept))
        fitted = training.train_configs(configs, inputs.fitted_panel(), fit_val)
        models = list(into) if into is not None else [cls(c) for c in configs]
        return [
            model._set_fitted(net, hist, inputs)
            for model, (net, hist) in zip(models, fitted, strict=True)
        ]

    def _set_fitted(self, net: CAStack, history: TrainHistory, inputs: FitInputs) -> Self:
        self.net_ = net
        self.history_ = history
        self.keep_ = inputs.keep
        self.chars_left_out_ = inputs.left_out
        self.n_dates_left_out_ = inputs.n_dates_left_out
        self.train_end_ = inputs.panel.dates[-1]
        f = self._realised_factors(inputs.panel)  # (T, S*K)
        self.factor_mean_ = f[inputs.fit_dates.to(f.device)].mean(dim=0)  # (S*K,)
        # Member-major, as `betas` and `factors` lay them out: "s2_f1" is member 2's first factor.
        n_members, k = self.net_.n_members, self.config.n_factors
        self.factor_names_ = tuple(
            f"f{j + 1}" if n_members == 1 else f"s{m + 1}_f{j + 1}"
            for m in range(n_members)
            for j in range(k)
        )
        # What `factors(train)` returns, without running the factor network a second time.
        self.factors_ = fill_constant_dates(
            f, inputs.panel, self.factor_mean_, self.train_end_, self.name
        )
        return self

    @property
    def _device(self) -> torch.device:
        return self.net_.beta_net.output.weight.device

    @torch.no_grad()
    def betas(self, panel: Panel) -> torch.Tensor:
        """Return betas (T, N, S*K) from each cell's characteristics alone (eval-mode BatchNorm).

        Betas at date t use `X[t]` and the fitted weights only, never `y`; masked cells get the
        betas of their (zero) characteristics and are ignored by `predict`.

        Returns
        -------
        torch.Tensor, shape (T, N, S*K), on the panel's device
        """
        panel = keep_chars(panel, self.keep_)
        n_dates, n_tickers, n_chars = panel.X.shape
        n_members, k = self.net_.n_members, self.config.n_factors
        out = []
        for start in range(0, n_dates, EVAL_DATES_PER_CHUNK):
            z = panel.X[start : start + EVAL_DATES_PER_CHUNK].to(self._device)
            beta = self.net_.beta_net(z.reshape(-1, n_chars))[..., :k]  # (R, S, K)
            out.append(beta.reshape(z.shape[0], n_tickers, n_members * k) / n_members)
        return torch.cat(out).to(panel.X.device)

    @torch.no_grad()
    def factors(self, panel: Panel) -> torch.Tensor:
        """Return the factors (T, S*K) realised from each date's observed targets `y[t]`.

        A date on which a kept characteristic is constant across tickers gets `factor_mean_`
        (see the module docstring); one after the training block is logged.

        Returns
        -------
        torch.Tensor, shape (T, S*K), on the panel's device
        """
        panel = keep_chars(panel, self.keep_)
        f = self._realised_factors(panel)
        return fill_constant_dates(f, panel, self.factor_mean_, self.train_end_, self.name)

    @torch.no_grad()
    def _realised_factors(self, panel: Panel) -> torch.Tensor:
        """Return the factors (T, S*K) realised on a panel of the kept characteristics.

        The factor network's output, or with regression factors each date's least squares of
        `y[t]` on the members' eval-mode betas (each member's own K betas, not divided by S).
        """
        k = self.config.n_factors
        if self.net_.is_regression:
            return self._regression_factors(panel)
        x = training.factor_inputs(panel, self.config.factor_input, self.config.ridge).to(
            self._device
        )
        f = self.net_.factor_net(x)[..., :k]  # (T, S, K)
        return f.reshape(panel.n_dates, -1).to(panel.X.device)

    def _regression_factors(self, panel: Panel) -> torch.Tensor:
        k = self.config.n_factors
        out = []
        for start in range(0, panel.n_dates, EVAL_DATES_PER_CHUNK):
            stop = start + EVAL_DATES_PER_CHUNK
            z = panel.X[start:stop].to(self._device)  # (C, N, P)
            beta = self.net_.beta_net(z)[..., :k]  # (C, N, S, K)
            y, mask = panel.y[start:stop].to(self._device), panel.mask[start:stop].to(self._device)
            f = regression_factors(beta, torch.where(mask, y, 0.0), mask, self.config.ridge)
            out.append(f.reshape(z.shape[0], -1))
        return torch.cat(out).to(panel.X.device) if out else panel.X.new_zeros((0, 0))


def _or_minus_inf(score: float) -> float:
    """Rank a NaN validation score below every number, so it never wins a selection."""
    return -math.inf if math.isnan(score) else score
