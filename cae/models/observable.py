"""Observable factors with time-series betas: "pre-defined factors, solve for sensitivities".

Factors are built from the panel itself at every date t: the equal-weighted market, the mean of
y[t] over the tickers observed at t, and one long-short factor per characteristic, the mean y[t]
of the tickers in the top `quantile` of X[t, :, p] minus that of the bottom `quantile` (Fama-French
style, 30/70 by default). X[t] is known before y[t] (see `cae.panel.tensors`), so sorting on it is
not
look-ahead. Each ticker's betas are the time-series regression (no intercept, as a factor model
prices with betas alone) of its training returns on these factors.

Tickers with fewer than `min_obs` training observations, or never seen in training, get no beta
(0), so their fitted return is 0.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import torch

from cae.errors import ConfigError
from cae.models._regress import masked_ols
from cae.models.base import FactorModel
from cae.panel.tensors import Panel

__all__ = ["Observable", "observable_factors"]


def observable_factors(panel: Panel, char_idx: list[int], quantile: float) -> torch.Tensor:
    """Return the market and long-short factors (T, 1 + len(char_idx)) of `panel`.

    Ranks are taken over the tickers observed at t only; ties keep the tickers' column order. A
    date with no observed ticker gets 0 for every factor.

    Parameters
    ----------
    panel : Panel
    char_idx : list[int]; positions of the characteristics to sort on.
    quantile : float in (0, 0.5]; share of observed tickers in each leg.

    Returns
    -------
    torch.Tensor, shape (T, 1 + len(char_idx)), float32
    """
    m = panel.mask
    y = panel.y.to(torch.float64)
    n_obs = m.sum(dim=1)  # (T,)
    market = (y * m).sum(dim=1) / n_obs.clamp(min=1)
    factors = [market]
    # One characteristic at a time keeps the rank tensors at (T, N) instead of (T, N, C).
    for p in char_idx:
        # Masked cells sort last, so the observed tickers hold ranks 0..n_obs-1.
        key = torch.where(m, panel.X[..., p], torch.inf)
        rank = torch.argsort(torch.argsort(key, dim=1, stable=True), dim=1, stable=True)
        pct = (rank + 0.5) / n_obs.clamp(min=1).unsqueeze(1)  # (T, N)
        long = m & (pct > 1.0 - quantile)
        short = m & (pct < quantile)
        long_mean = (y * long).sum(dim=1) / long.sum(dim=1).clamp(min=1)
        short_mean = (y * short).sum(dim=1) / short.sum(dim=1).clamp(min=1)
        factors.append(long_mean - short_mean)
    return torch.stack(factors, dim=1).to(torch.float32)


class Observable(FactorModel):
    """Market plus characteristic-sorted long-short factors; per-ticker time-series betas.

    Parameters
    ----------
    chars : tuple[str, ...], optional; characteristics to sort on (default: all of the panel's).
    quantile : float; share of tickers in each leg of a long-short factor (0.3: 30/70 sorts).
    min_obs : int; training observations a ticker needs to get betas.
    """

    name = "observable"
    # Nothing is selected on validation data, so the validation block joins training.
    fit_on_train_and_val = True

    def __init__(
        self, chars: tuple[str, ...] | None = None, quantile: float = 0.3, min_obs: int = 12
    ) -> None:
        self.chars = chars
        self.quantile = quantile
        self.min_obs = min_obs

    def fit(self, train: Panel, val: Panel | None = None) -> Self:
        """Build the training factors and regress each ticker's returns on them."""
        if not 0.0 < self.quantile <= 0.5:
            raise ConfigError(f"observable quantile must be in (0, 0.5], not {self.quantile}")
        chars = train.char_names if self.chars is None else self.chars
        unknown = [c for c in chars if c not in train.char_names]
        if unknown:
            raise ConfigError(f"observable factors: unknown characteristics {unknown}")
        self.char_idx_ = [train.char_names.index(c) for c in chars]
        self.factor_names_ = ("mkt", *(f"ls_{c}" for c in chars))
        self.n_factors = len(self.factor_names_)
        f = self.factors(train)  # (T, K)
        has_beta = train.mask.sum(dim=0) >= self.min_obs  # (N,)
        beta = masked_ols(f.expand(train.n_tickers, -1, -1), train.y.T, train.mask.T)  # (N, K)
        self.tickers_ = np.asarray(train.tickers)
        self.beta_ = beta * has_beta.unsqueeze(1)
        self.factors_ = f
        return self

    def betas(self, panel: Panel) -> torch.Tensor:
        """Return each ticker's static time-series betas (T, N, K), 0 where masked or unknown."""
        if np.array_equal(panel.tickers, self.tickers_):
            beta = self.beta_
        else:
            pos = {t: i for i, t in enumerate(self.tickers_)}
            idx = torch.tensor([pos.get(t, -1) for t in panel.tickers])
            beta = torch.zeros((len(idx), self.n_factors), dtype=self.beta_.dtype)
            beta[idx >= 0] = self.beta_[idx[idx >= 0]]
        out = beta.to(torch.float32).expand(panel.n_dates, -1, -1)  # (T, N, K)
        return out * panel.mask.unsqueeze(-1)

    def factors(self, panel: Panel) -> torch.Tensor:
        """Return the market and long-short factors (T, K) realised on `panel`."""
        return observable_factors(panel, self.char_idx_, self.quantile)
