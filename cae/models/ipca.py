"""Instrumented PCA (Kelly, Pruitt & Su 2019): betas linear in characteristics, Z[t] Gamma.

y[t, n] = Z[t, n] . Gamma_alpha + Z[t, n] Gamma f[t] + e, with Gamma (P, K) and f (T, K) fitted by
alternating least squares on the pooled sum of squared errors over observed cells (KPS eq. 6-7):

- f-step: f[t] = (Gamma' W[t] Gamma)^-1 Gamma' (x[t] - W[t] Gamma_alpha), where
  W[t] = Z[t]' Z[t] and x[t] = Z[t]' y[t] over the tickers observed at t;
- Gamma-step: vec(Gamma) solves sum_t (W[t] kron F[t] F[t]') vec(Gamma) = sum_t x[t] kron F[t],
  with F[t] = (f[t], 1) when there is an intercept.

Normalisation follows the `ipca` package: Gamma'Gamma = I, f'f diagonal and decreasing, factor
means positive, and Gamma_alpha orthogonal to Gamma. The intercept is a factor fixed at 1 (so its
lambda is 1 and it enters predictive returns unchanged).

Characteristics absent on a date (constant across tickers: a long-window characteristic's warm-up,
0 for every ticker) follow `cae.models._chars`: one that varies on more than half of the fit's
dates is kept and the dates on which it is constant are left out of the ALS fit
(`n_dates_left_out_`); one absent more often is left out of the window's instruments
(`chars_left_out_`). Fitted on such a date, Z[t] Gamma loses every direction that Gamma carries
through the absent instrument, Gamma' W[t] Gamma is near singular, and ALS can use a spare factor
to fit those dates' noise through it: on the bundled daily sample (107 warm-up dates of 225) one
training factor reached 550 against 0.1 elsewhere, lambda (the mean of the factors) reached 10,
and the pooled predictive R2 of `cae run` was -1,657% (-0.70% with the absent characteristics
left out). The same near singularity makes the f-step ill-posed on such a date after the fit, so
its factor is the mean of the fitted dates' factors (`factor_mean_`), in `factors_` and in
`factors`; lambda is then the mean over fitted dates. A ridge in the f-step was tried and
rejected: it biases every date's factors, on clean panels too (so results would differ from the
`ipca` package), and with a ridge of 1e-2 x trace / K two of the sample's five windows still had
factors of 8 and 10. A panel whose characteristics vary on every date is fitted exactly as
before. The earlier rule (leave out any characteristic constant on some date) kept 4 of the
sample's 20 characteristics in every window, since its first date has only those four; this one
keeps 8 in the first four windows (without the first date) and 15 in the last (without its 106
warm-up dates, and without betasq, collinear with beta), and the pooled test R2 of `cae run`
moved from 56.86% to 57.67% (total) and from -0.70% to -0.75% (predictive), with every test
factor below 0.06 and lambda below 0.0015.
"""

from __future__ import annotations

from typing import Self

import torch

from cae.errors import PanelError
from cae.models._chars import fill_constant_dates, fit_inputs, keep_chars
from cae.models._regress import CHUNK_CELLS, PINV_RTOL
from cae.models.base import FactorModel
from cae.panel.tensors import Panel

__all__ = ["IPCA"]


class IPCA(FactorModel):
    """IPCA by alternating least squares.

    Parameters
    ----------
    n_factors : int; K latent factors (the intercept, if any, is extra).
    intercept : bool; add alpha[t, n] = Z[t, n] . Gamma_alpha (a constant factor of 1).
    constant : bool; append a characteristic equal to 1 to Z, as KPS (2019) do. Rank-normalised
        characteristics are centred at 0 each date, so without it no beta can hold a common
        level and the market factor is out of reach (measured on the sample's daily panel:
        in-sample total R2 6% without, against 58% for PCA).
    max_iter : int; ALS sweeps at most.
    tol : float; stop when no entry of Gamma or f moves more than this in a sweep.

    Fitted attributes: `Gamma_` (P_used + constant, K) over the instruments `chars_` (the
    characteristics kept by `cae.models._chars.fit_inputs`, then the constant),
    `chars_left_out_`, `n_dates_left_out_` (training dates with a kept characteristic constant,
    left out of the fit), `Gamma_alpha_`, `factors_` (T, K [+ 1]; the dates left out hold
    `factor_mean_`, the mean factor of the dates fitted).
    """

    name = "ipca"
    # No hyperparameter is selected on validation data, so the validation block joins training.
    fit_on_train_and_val = True

    def __init__(
        self,
        n_factors: int = 3,
        intercept: bool = False,
        constant: bool = True,
        max_iter: int = 5000,
        tol: float = 1e-7,
    ) -> None:
        self.n_factors = n_factors
        self.intercept = intercept
        self.constant = constant
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, train: Panel, val: Panel | None = None) -> Self:
        """Fit Gamma (P, K) [and Gamma_alpha (P,)] and the training factors (T, K).

        Characteristics constant across tickers on more than half of the dates of `train` are
        left out first, then the dates on which a kept one is constant (see the module
        docstring); `chars_left_out_` names the former, `n_dates_left_out_` counts the latter.
        """
        inputs = fit_inputs(train)
        self.keep_, self.chars_left_out_ = inputs.keep, inputs.left_out  # (P_all,) bool, names
        self.n_dates_left_out_ = inputs.n_dates_left_out
        train, fit_dates = inputs.panel, inputs.fit_dates  # kept characteristics; (T,) bool
        self.train_end_ = train.dates[-1]
        self.chars_ = tuple(train.char_names) + (("constant",) if self.constant else ())
        K, P = self.n_factors, len(self.chars_)
        if K > P:
            note = (
                f" ({', '.join(self.chars_left_out_)} left out: constant across tickers on more "
                "than half of the training dates)"
                if self.chars_left_out_
                else ""
            )
            raise PanelError(
                f"IPCA with {K} factors needs at least {K} characteristics, not {P}{note}"
            )
        W, x = _managed(train, self.constant)  # (T, P, P), (T, P)
        W, x = W[fit_dates], x[fit_dates]  # (T_fit, P, P), (T_fit, P)
        counts = train.mask[fit_dates].sum(dim=1).clamp(min=1).to(torch.float64)  # (T_fit,)
        # Start from the top principal components of the per-ticker managed portfolios (ipca).
        u, _, _ = torch.linalg.svd((x / counts.unsqueeze(1)).T, full_matrices=False)
        gamma = u[:, :K]  # (P, K)
        alpha = torch.zeros(P, dtype=torch.float64)
        f = _f_step(gamma, alpha, W, x)
        for _ in range(self.max_iter):
            gamma_new, alpha_new = _gamma_step(f, W, x, self.intercept)
            f_new = _f_step(gamma_new, alpha_new, W, x)
            gamma_new, alpha_new, f_new = _normalise(gamma_new, alpha_new, f_new)
            change = max(
                float((gamma_new - gamma).abs().max()),
                float((f_new - f).abs().max()),
                float((alpha_new - alpha).abs().max()),
            )
            gamma, alpha, f = gamma_new, alpha_new, f_new
            if change <= self.tol:
                break
        self.Gamma_ = gamma  # (P, K)
        self.Gamma_alpha_ = alpha  # (P,); zeros without an intercept
        self.factor_mean_ = f.mean(dim=0)  # (K,)
        f_all = self.factor_mean_.expand(train.n_dates, K).clone()  # (T, K)
        f_all[fit_dates] = f
        self.factors_ = self._with_intercept(f_all).to(torch.float32)
        self.factor_names_ = tuple(f"f{k + 1}" for k in range(K)) + (
            ("alpha",) if self.intercept else ()
        )
        return self

    def _with_intercept(self, f: torch.Tensor) -> torch.Tensor:
        if not self.intercept:
            return f
        return torch.cat([f, torch.ones_like(f[:, :1])], dim=1)  # (T, K + 1)

    def betas(self, panel: Panel) -> torch.Tensor:
        """Return beta[t] = Z[t] Gamma (T, N, K) [with Z[t] Gamma_alpha as a last column]."""
        gamma = self.Gamma_
        if self.intercept:
            gamma = torch.cat([gamma, self.Gamma_alpha_.unsqueeze(1)], dim=1)
        Z = _instruments(keep_chars(panel, self.keep_).X, self.constant)  # (T, N, P)
        beta = torch.einsum("tnp,pk->tnk", Z, gamma.to(panel.X.dtype))  # (T, N, K)
        return beta * panel.mask.unsqueeze(-1)

    def factors(self, panel: Panel) -> torch.Tensor:
        """Return f[t] (T, K) from y[t] and Z[t] with Gamma fixed (the f-step), plus the 1s.

        A date on which a kept characteristic is constant across tickers gets `factor_mean_`
        (see the module docstring); one after the training block is logged.
        """
        panel = keep_chars(panel, self.keep_)
        W, x = _managed(panel, self.constant)
        f = _f_step(self.Gamma_, self.Gamma_alpha_, W, x)
        f = fill_constant_dates(f, panel, self.factor_mean_, self.train_end_, self.name)
        return self._with_intercept(f).to(torch.float32)


def _instruments(X: torch.Tensor, constant: bool) -> torch.Tensor:
    """Return Z: the characteristics, with a last column of ones when `constant`."""
    if not constant:
        return X
    return torch.cat([X, torch.ones_like(X[..., :1])], dim=-1)


def _managed(panel: Panel, constant: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Return W[t] = Z[t]'Z[t] (T, P, P) and x[t] = Z[t]'y[t] (T, P) over observed cells.

    Accumulate in float64 over chunks of dates, so the float64 copy of X stays small.
    """
    T, N, _ = panel.X.shape
    P = panel.n_chars + int(constant)
    W = torch.zeros((T, P, P), dtype=torch.float64)
    x = torch.zeros((T, P), dtype=torch.float64)
    step = max(1, CHUNK_CELLS // max(N * P, 1))
    for start in range(0, T, step):
        rows = slice(start, start + step)
        Z = _instruments(panel.X[rows], constant).to(torch.float64)
        Z = Z * panel.mask[rows].unsqueeze(-1)  # (t, N, P)
        W[rows] = torch.einsum("tnp,tnq->tpq", Z, Z)
        x[rows] = torch.einsum("tnp,tn->tp", Z, panel.y[rows].to(torch.float64))
    return W, x


def _f_step(
    gamma: torch.Tensor, alpha: torch.Tensor, W: torch.Tensor, x: torch.Tensor
) -> torch.Tensor:
    """Return f[t] = (G'W[t]G)^+ G'(x[t] - W[t] alpha) for every t (T, K)."""
    gram = gamma.T @ (W @ gamma)  # (T, K, K)
    rhs = torch.einsum("pk,tp->tk", gamma, x - W @ alpha)  # (T, K)
    pinv = torch.linalg.pinv(gram, rtol=PINV_RTOL, hermitian=True)
    return torch.einsum("tkl,tl->tk", pinv, rhs)


def _gamma_step(
    f: torch.Tensor, W: torch.Tensor, x: torch.Tensor, intercept: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (Gamma (P, K), Gamma_alpha (P,)) solving the pooled normal equations given f."""
    T, P, _ = W.shape
    F = (
        torch.cat([f, torch.ones(T, 1, dtype=f.dtype)], dim=1) if intercept else f
    )  # (T, K + intercept)
    n_cols = F.shape[1]
    denom = torch.einsum("tpq,tk,tl->pkql", W, F, F).reshape(P * n_cols, P * n_cols)
    numer = torch.einsum("tp,tk->pk", x, F).reshape(P * n_cols)
    sol = torch.linalg.lstsq(denom, numer.unsqueeze(1), driver="gelsd").solution
    G = sol.reshape(P, n_cols)
    if intercept:
        return G[:, :-1].contiguous(), G[:, -1].contiguous()
    return G, torch.zeros(P, dtype=f.dtype)


def _normalise(
    gamma: torch.Tensor, alpha: torch.Tensor, f: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rotate so Gamma'Gamma = I, f'f is diagonal and decreasing, mean f > 0, alpha _|_ Gamma.

    Z Gamma f + Z alpha is unchanged: the part of alpha inside span(Gamma) moves into f.
    """
    chol = torch.linalg.cholesky(gamma.T @ gamma).T  # R with Gamma'Gamma = R'R
    gamma = torch.linalg.solve(chol.T, gamma.T).T  # Gamma R^-1
    f = f @ chol.T  # R f
    evals, evecs = torch.linalg.eigh(f.T @ f)
    rot = evecs[:, torch.argsort(evals, descending=True)]
    gamma, f = gamma @ rot, f @ rot
    inside = gamma.T @ alpha  # (K,)
    alpha = alpha - gamma @ inside
    f = f + inside
    sign = torch.where(f.mean(dim=0) < 0, -1.0, 1.0).to(f.dtype)
    return gamma * sign, alpha, f * sign
