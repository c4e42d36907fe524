"""A simulated panel with known truth, in the spirit of Gu, Kelly & Xiu (2019), section 3.

Characteristics are persistent AR(1) processes, ranked each date into [-1, 1] over the tickers
observed then. Returns come from `n_factors` latent factors whose betas are either linear or
nonlinear (squares, an interaction, a sign) in the first three characteristics; the others are
noise the models must learn to ignore. Student-t noise is scaled so the true total R2 (oracle:
true betas times true factors) is `target_r2` on the simulated sample, or by a fixed
`noise_scale` as in GKX (2021) section 4 (`SimConfig.gkx`).

Timing follows `cae.panel.tensors.Panel` with target "forward": `X[t]` are characteristics at the
close of
`dates[t]` and `y[t] = beta(X[t]) . f[t] + e[t]` is the next period's return, so `factors[t]` is the
factor realised over that next period.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Self

import numpy as np
import torch

from cae.errors import ConfigError
from cae.models.base import FactorModel
from cae.panel.tensors import Panel

__all__ = ["Oracle", "SimConfig", "SimulatedPanel", "simulate_panel"]

BetaShape = Literal["linear", "nonlinear"]

# Characteristics that drive betas; the rest are irrelevant by construction.
N_RELEVANT_CHARS = 3

# GKX (2021) section 4's coefficients on the three beta terms, as issue 12 quotes them.
GKX_BETA_WEIGHTS = {"linear": (1.2, 1.0, 0.8), "nonlinear": (1.0, 2.0, 0.6)}


@dataclass(frozen=True)
class SimConfig:
    """Settings of the simulated panel; defaults give a monthly panel with a ~40% true R2."""

    n_dates: int = 240  # periods (months)
    n_tickers: int = 200  # tickers ever listed
    n_chars: int = 10  # characteristics; the first 3 drive betas, the rest are noise
    n_factors: int = 3  # latent factors (GKX simulate 3)
    beta_shape: BetaShape = "linear"  # "linear" or "nonlinear" betas in the characteristics
    rho_low: float = 0.9  # AR(1) persistence of each (ticker, char) drawn from U[rho_low, rho_high)
    rho_high: float = 1.0
    factor_mean: float = 0.01  # per-period mean of each factor (a risk premium, so lambda matters)
    factor_vol: float = 0.05  # per-period volatility of each factor
    noise_df: float = 5.0  # Student-t degrees of freedom: fat-tailed idiosyncratic noise
    target_r2: float = 0.40  # true total R2 the noise scale is calibrated to
    listing_fraction: float = 0.2  # share of tickers that list late or delist early (unbalanced)
    beta_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)  # multiply the 3 beta terms
    noise_scale: float | None = None  # fixed scale of the t noise; None calibrates to target_r2
    seed: int = 0

    @classmethod
    def gkx(cls, beta_shape: BetaShape, seed: int = 0, **overrides) -> SimConfig:
        """Return GKX (2021) section 4's Monte Carlo design for `beta_shape`.

        N = 200 tickers, T = 180 months, 50 AR(1) characteristics (rho ~ U[0.9, 1]) ranked into
        [-1, 1], K = 3; betas (1.2 c1, c2, 0.8 c3) or (c1^2, 2 c1 c2, 0.6 sgn(c3)); factors
        x[:3] + N(0, 0.01^2) with x ~ N(0.03, 0.1^2 I), i.e. mean 0.03 and volatility
        sqrt(0.1^2 + 0.01^2); Student-t(5) noise of scale 0.1 (so the true R2 is not imposed:
        about 40% for the nonlinear design); a balanced panel. As quoted in issue 12; the
        paper's text could not be read here.
        """
        design = {
            "n_dates": 180,
            "n_tickers": 200,
            "n_chars": 50,
            "n_factors": 3,
            "beta_shape": beta_shape,
            "beta_weights": GKX_BETA_WEIGHTS[beta_shape],
            "factor_mean": 0.03,
            "factor_vol": math.hypot(0.1, 0.01),
            "noise_df": 5.0,
            "noise_scale": 0.1,
            "listing_fraction": 0.0,
            "seed": seed,
        }
        return cls(**(design | overrides))


@dataclass(frozen=True)
class SimulatedPanel:
    """A simulated panel and the truth that generated it.

    Attributes
    ----------
    panel : Panel; target "forward".
    betas : torch.Tensor, shape (T, N, K), float32; true betas, 0 where masked.
    factors : torch.Tensor, shape (T, K), float32; true factors realised with y[t].
    factor_mean : torch.Tensor, shape (K,); the factors' true mean (the true risk premia).
    noise_scale : float; scale of the Student-t noise after calibration.
    config : SimConfig
    """

    panel: Panel
    betas: torch.Tensor
    factors: torch.Tensor
    factor_mean: torch.Tensor
    noise_scale: float
    config: SimConfig


def simulate_panel(config: SimConfig | None = None) -> SimulatedPanel:
    """Simulate a panel with known betas and factors; the same config gives the same panel.

    Parameters
    ----------
    config : SimConfig, optional; defaults to `SimConfig()`.

    Returns
    -------
    SimulatedPanel
    """
    config = config or SimConfig()
    _check(config)
    rng = np.random.default_rng(config.seed)
    T, N, P, K = config.n_dates, config.n_tickers, config.n_chars, config.n_factors

    mask = _listing_mask(rng, T, N, config.listing_fraction)  # (T, N)
    raw = _ar1_chars(rng, T, N, P, config.rho_low, config.rho_high)  # (T, N, P)
    Z = _rank_to_unit(raw, mask)  # (T, N, P)
    beta = _true_betas(Z, K, config.beta_shape, config.beta_weights) * mask[..., None]  # (T, N, K)

    f = config.factor_mean + config.factor_vol * rng.standard_normal((T, K))  # (T, K)
    signal = np.einsum("tnk,tk->tn", beta, f) * mask  # (T, N)
    noise = rng.standard_t(config.noise_df, size=(T, N))  # (T, N)
    scale = config.noise_scale
    if scale is None:
        scale = _noise_scale(signal, noise, mask, config.target_r2)
    y = (signal + scale * noise) * mask

    dates = (np.datetime64("2000-01", "M") + np.arange(T)).astype("datetime64[D]")
    panel = Panel(
        dates=dates,
        tickers=np.array([f"S{n:04d}" for n in range(N)]),
        char_names=tuple(f"c{p + 1}" for p in range(P)),
        X=torch.from_numpy(Z.astype(np.float32)),
        y=torch.from_numpy(y.astype(np.float32)),
        mask=torch.from_numpy(mask),
        target="forward",
    )
    return SimulatedPanel(
        panel=panel,
        betas=torch.from_numpy(beta.astype(np.float32)),
        factors=torch.from_numpy(f.astype(np.float32)),
        factor_mean=torch.full((K,), config.factor_mean, dtype=torch.float32),
        noise_scale=float(scale),
        config=config,
    )


class Oracle(FactorModel):
    """The true betas and factors of a simulation, shaped as a model for side-by-side scoring.

    `fit` learns nothing but the factors realised on the training dates (for lambda); `betas` and
    `factors` look dates up in the simulation, so any slice of the simulated panel works.
    """

    name = "oracle"

    def __init__(self, sim: SimulatedPanel) -> None:
        self.sim = sim
        self.n_factors = sim.config.n_factors

    def fit(self, train: Panel, val: Panel | None = None) -> Self:
        """Record the true factors of the training dates (the oracle's history for lambda)."""
        self.factors_ = self.factors(train)
        return self

    def _rows(self, panel: Panel) -> np.ndarray:
        rows = np.searchsorted(self.sim.panel.dates, panel.dates)
        if np.any(rows >= len(self.sim.panel.dates)) or not np.array_equal(
            self.sim.panel.dates[np.minimum(rows, len(self.sim.panel.dates) - 1)], panel.dates
        ):
            raise ConfigError("Oracle: the panel has dates that are not in the simulation")
        return rows

    def betas(self, panel: Panel) -> torch.Tensor:
        """Return the true betas (T, N, K) of the panel's dates."""
        return self.sim.betas[torch.from_numpy(self._rows(panel))]

    def factors(self, panel: Panel) -> torch.Tensor:
        """Return the true factors (T, K) of the panel's dates."""
        return self.sim.factors[torch.from_numpy(self._rows(panel))]


def _check(config: SimConfig) -> None:
    if config.beta_shape not in ("linear", "nonlinear"):
        raise ConfigError(f"beta_shape must be 'linear' or 'nonlinear', not {config.beta_shape!r}")
    if config.n_chars < N_RELEVANT_CHARS:
        raise ConfigError(f"n_chars must be at least {N_RELEVANT_CHARS}, not {config.n_chars}")
    if config.noise_scale is not None and config.noise_scale <= 0.0:
        raise ConfigError(f"noise_scale must be positive, not {config.noise_scale}")
    if not 0.0 < config.target_r2 < 1.0:
        raise ConfigError(f"target_r2 must be in (0, 1), not {config.target_r2}")
    if config.n_dates < 2 or config.n_tickers < 2 or config.n_factors < 1:
        raise ConfigError("n_dates and n_tickers must be at least 2 and n_factors at least 1")


def _listing_mask(rng: np.random.Generator, T: int, N: int, fraction: float) -> np.ndarray:
    """Return the (T, N) universe: most tickers span the sample; a fraction list late or delist."""
    start = np.zeros(N, dtype=np.int64)
    stop = np.full(N, T, dtype=np.int64)
    moved = rng.random(N) < fraction
    late = moved & (rng.random(N) < 0.5)
    early = moved & ~late
    start[late] = rng.integers(1, max(2, T // 2), size=int(late.sum()))
    stop[early] = rng.integers(max(1, T // 2), T, size=int(early.sum()))
    t = np.arange(T)[:, None]
    return (t >= start[None, :]) & (t < stop[None, :])


def _ar1_chars(
    rng: np.random.Generator, T: int, N: int, P: int, rho_low: float, rho_high: float
) -> np.ndarray:
    """Return raw characteristics c[t] = rho c[t-1] + e[t], started from their stationary law."""
    rho = rng.uniform(rho_low, rho_high, size=(N, P))
    innov = rng.standard_normal((T, N, P))
    c = np.empty((T, N, P))
    c[0] = innov[0] / np.sqrt(np.maximum(1.0 - rho**2, 1e-3))
    for t in range(1, T):
        c[t] = rho * c[t - 1] + innov[t]
    return c


def _rank_to_unit(raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Rank each (date, char) cross-section into [-1, 1] over the tickers observed at that date.

    Rank only observed tickers, so a ticker outside the universe cannot shift the others' ranks;
    unobserved cells get 0.
    """
    out = np.zeros_like(raw)
    for t in range(raw.shape[0]):
        obs = mask[t]
        n_obs = int(obs.sum())
        if n_obs == 0:
            continue
        ranks = raw[t, obs].argsort(axis=0).argsort(axis=0)  # (n_obs, P), 0..n_obs-1
        out[t, obs] = 2.0 * (ranks + 1) / (n_obs + 1) - 1.0
    return out


def _true_betas(
    Z: np.ndarray, K: int, shape: BetaShape, weights: tuple[float, float, float]
) -> np.ndarray:
    """Return betas (T, N, K) from the first three characteristics, each term times its weight.

    Linear: (c1, c2, c3). Nonlinear (GKX simulation): (c1^2, c1 * c2, sign(c3)). Factors beyond 3
    reuse the three terms cyclically with alternating signs.
    """
    c1, c2, c3 = Z[..., 0], Z[..., 1], Z[..., 2]
    terms = [c1, c2, c3] if shape == "linear" else [c1**2, c1 * c2, np.sign(c3)]
    terms = [w * term for w, term in zip(weights, terms, strict=True)]
    cols = [terms[k % 3] * (-1.0) ** (k // 3) for k in range(K)]
    return np.stack(cols, axis=-1)


def _noise_scale(
    signal: np.ndarray, noise: np.ndarray, mask: np.ndarray, target_r2: float
) -> float:
    """Return s such that 1 - sum (s e)^2 / sum (signal + s e)^2 is `target_r2` on this sample.

    Solve the quadratic in s exactly on the drawn sample, so the oracle's R2 is the target to
    rounding rather than only in expectation.
    """
    a_sig = float((signal[mask] ** 2).sum())
    b_cross = float((signal[mask] * noise[mask]).sum())
    c_noise = float((noise[mask] ** 2).sum())
    # (1 - R2) (a + 2 s b + s^2 c) = s^2 c  ->  R2 c s^2 - 2 (1 - R2) b s - (1 - R2) a = 0
    q = 1.0 - target_r2
    disc = (q * b_cross) ** 2 + target_r2 * c_noise * q * a_sig
    return (q * b_cross + np.sqrt(disc)) / (target_r2 * c_noise)
