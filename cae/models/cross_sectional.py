"""Cross-sectional regression factors: characteristics are the betas, factors are solved per date.

The seed notebook's "pre-defined sensitivities, solve for factors" (Fama-MacBeth's first pass):
beta[t, n] = (1, X[t, n]) and f[t] is the least-squares regression of y[t] on beta[t] over the
tickers observed at t. It is IPCA with Gamma fixed to the identity, so it has P (+1) factors.

A characteristic collinear with the others over the training dates (a constant one included) is
left out (`cae.models._chars.without_collinear`, `chars_left_out_`), as IPCA and the
autoencoders leave it out: on the daily sample betasq ranks almost exactly as beta does, and with
both the regression on 2010-05-10 gave them offsetting factors of +9.9 and -9.9 (0.01 for the
others) with the same fitted returns; without betasq the largest factor of the run is 0.05.
Nothing else is left out: a characteristic constant across tickers on a date (0 for every
ticker after ranking, as on a long window's warm-up dates) only costs that date's regression a
column. Its factor is not realised there: the minimum-norm answer, 0, would pull lambda (the
mean of earlier factors) toward 0, so that factor gets its mean over the training dates on which
it is realised (`factor_mean_`), as IPCA gives such dates its mean factor. The fitted returns do
not change (the column is 0); only lambda, and so predictive R2, does: in `cae run` on the
sample the pooled predictive R2 went from -0.71% to -0.82%, as the zeros had shrunk lambda
toward 0, which happened to help there.
"""

from __future__ import annotations

from typing import Self

import torch

from cae.models._chars import keep_chars, left_out, variation, without_collinear
from cae.models._regress import masked_ols
from cae.models.base import FactorModel
from cae.panel.tensors import Panel

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
        """Choose the characteristics (no collinear ones) and record the training factors (T, K)."""
        self.keep_ = without_collinear(train)  # (P_all,) bool
        self.chars_left_out_ = left_out(train, self.keep_)
        self.n_dates_left_out_ = 0
        kept = keep_chars(train, self.keep_)
        self.n_factors = kept.n_chars + int(self.intercept)
        self.factor_names_ = (("const",) if self.intercept else ()) + tuple(kept.char_names)
        f, realised = self._solve(kept)  # (T, K) each
        count = realised.sum(dim=0)  # (K,)
        total = torch.where(realised, f, torch.zeros_like(f)).sum(dim=0)
        self.factor_mean_ = torch.where(count > 0, total / count.clamp(min=1), 0.0)  # (K,)
        self.factors_ = torch.where(realised, f, self.factor_mean_)
        return self

    def betas(self, panel: Panel) -> torch.Tensor:
        """Return (1, X[t, n]) (T, N, K) over the kept characteristics, 0 where masked."""
        return self._betas(keep_chars(panel, self.keep_))

    def _betas(self, kept: Panel) -> torch.Tensor:
        # `betas` of a panel already restricted to the kept characteristics.
        X = kept.X
        if self.intercept:
            X = torch.cat([torch.ones_like(X[..., :1]), X], dim=-1)  # (T, N, P + 1)
        return X * kept.mask.unsqueeze(-1)

    def factors(self, panel: Panel) -> torch.Tensor:
        """Return f[t] (T, K), the least-squares regression of y[t] on betas[t] over observed cells.

        A date with fewer observed tickers than factors gets the minimum-norm solution. A factor
        not realised on a date (module docstring) is `factor_mean_` there.
        """
        f, realised = self._solve(keep_chars(panel, self.keep_))
        return torch.where(realised, f, self.factor_mean_.to(f.device))

    def _solve(self, kept: Panel) -> tuple[torch.Tensor, torch.Tensor]:
        # On a panel of the kept characteristics: the regression's factors (T, K) and which are
        # realised (T, K): a characteristic's on the dates it varies across tickers, the
        # constant's on dates with two tickers or more.
        f = masked_ols(self._betas(kept), kept.y, kept.mask).to(torch.float32)
        varies, counted = variation(kept)  # (T, P_kept), (T,)
        if self.intercept:
            varies = torch.cat([counted.unsqueeze(1), varies], dim=1)
        return f, varies.to(f.device)
