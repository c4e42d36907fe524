"""The conditional autoencoder family (Gu, Kelly & Xiu 2021, "Autoencoder asset pricing models").

GKX section 2: returns are `r[t, n] = beta[t, n, :] . f[t, :] + e[t, n]`, where
- the beta network maps a ticker's characteristics known before the return, `X[t, n]`, through
  hidden layers `Z(l) = ReLU(BN(W(l) Z(l-1) + b(l)))` to `beta = W(L) Z(L) + b(L)` (K outputs), and
- the factor network is one linear layer `f[t] = W x[t] + b` over either the managed portfolios
  `x[t] = (Z'Z)^-1 Z' r[t]` (the paper; `cae.models.portfolios`) or the raw cross-section `r[t]`;
  or,
  beyond the paper (`factor_input="regression"`), there is no factor network and each date's
  factors are the least-squares regression of `r[t]` on that date's betas,
  `f[t] = (B[t]'B[t] + ridge I)^-1 B[t]' r[t]` (IPCA's factor step; `regression_factors`).
Depths: CA0 linear (IPCA-like), CA1 (32), CA2 (32, 16), CA3 (32, 16, 8); "CA-seed" is the seed
notebook's one hidden layer of 8 over raw returns.

Every module here holds M independent members (grid configurations and ensemble seeds) in stacked
weights with a leading member axis, so one forward pass trains them all; members never share a
parameter, and Adam is elementwise, so a stack trains exactly like M separate models. Members may
differ in their number of factors: factor columns beyond a member's K are held at zero by a mask.
Inputs are packed rows, one per OBSERVED (date, ticker) cell, so a masked cell cannot reach a
batch-norm statistic, an output or a gradient.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import nn

__all__ = [
    "PRESETS",
    "BetaNetwork",
    "CAConfig",
    "CAStack",
    "FactorNetwork",
    "RowBatchNorm",
    "StackedLinear",
    "regression_factors",
    "shallow_fitted",
]

FactorInput = Literal["portfolios", "returns", "regression"]

# Hidden widths of the beta network per named variant (GKX section 3.2; the seed notebook).
PRESETS: dict[str, dict] = {
    "CA0": {"hidden": ()},
    "CA1": {"hidden": (32,)},
    "CA2": {"hidden": (32, 16)},
    "CA3": {"hidden": (32, 16, 8)},
    "CA-seed": {"hidden": (8,), "factor_input": "returns"},
    # Beyond GKX: factors realised by per-date least squares on the network's betas (a nonlinear
    # IPCA; docs/regression_factors.md). "CA0-reg" is IPCA fitted by gradient descent.
    "CA0-reg": {"hidden": (), "factor_input": "regression"},
    "CA1-reg": {"hidden": (32,), "factor_input": "regression"},
    "CA2-reg": {"hidden": (32, 16), "factor_input": "regression"},
}


@dataclass(frozen=True)
class CAConfig:
    """Hyperparameters of a conditional autoencoder and its training (defaults: GKX 2021).

    Sources, checked on 2026-11-23 with what could be read here. The paper's PDF could not be
    opened (only its first page and abstract are reachable), so its table of tuning values was
    not read; every number below is marked by where it was checked.
    - [GKX21] Gu, Kelly & Xiu (2021), J. Econometrics 222(1) 429-450, "Autoencoder asset pricing
      models": a train / validation / test split, an L1 (LASSO) penalty with early stopping, Adam
      with batch normalisation, and an ensemble of networks from different seeds whose fits are
      averaged; CA0 linear, CA1..CA3 with 32, (32, 16), (32, 16, 8) hidden ReLU units; the factor
      network is one linear layer over managed portfolios; K = 1..6 reported.
    - [GKX20] Gu, Kelly & Xiu (2020), RFS 33(5), "Empirical asset pricing via machine learning",
      Table A.5 for its neural networks, which GKX21 follow: L1 in (1e-5, 1e-3), learning rate in
      (1e-3, 1e-2), batch size 10,000, 100 epochs, patience 5, Adam, ensemble of 10. Quoted from
      memory of the paper, NOT verified against its text here.
    - [rw] github.com/rongwang0824/Autoencoder-Asset-Pricing-Models, `model_AE.py` (a GKX21
      replication): widths 32 / 32-16 / 32-16-8, Adam, `max_epochs = 100`,
      `early_stopping_patience = 5`, L1 on all weights, grid lr {1e-3, 1e-4} x L1 {1e-4, 1e-5},
      one month per mini-batch, no batch norm, default K = 5.
    - [rs] github.com/RichardS0268/Autoencoder-Asset-Pricing-Models, `models/CA.py` (another):
      hidden layers Linear -> BatchNorm1d -> ReLU with widths 32 / 32-16 / 32-16-8, Adam at
      lr 1e-3, up to 200 epochs with patience 20, one month per mini-batch, no L1 (dropout 0.5
      instead); its README runs K = 1..6.
    - [MC] this project's measurements on GKX section 4's Monte Carlo (`benchmarks/
      gkx_montecarlo.py`, N = 200, T = 180 split 60 / 60 / 60, K = 3, 5 or 10 seeds,
      replications 0-2; docs/benchmarks.md): where a default departs from GKX20, its comment
      gives the test total R2 (%) that chose it.
    Verified by two replications: the widths, Adam, lr 1e-3 as a grid point. Verified by one:
    batch norm before the ReLU ([rs]), 100 epochs and patience 5 ([rw]; [rs] uses 200 and 20),
    L1 1e-4 as a grid point ([rw]). Not verified anywhere here: batch size 10,000 observations
    (both replications use one month per step), an ensemble of 10 (a third replication,
    github.com/Guangxuan-Xiao/Autoencoder-Asset-Pricing-Models `config/CA.yml`, averages 3 seeds
    at lr 5e-3), and the grids' end points 1e-2 (lr) and 1e-3 (L1).
    The seed notebook's variant (`CA-seed`, `batch_dates=32`) is not a GKX setting. Pipeline runs
    on the daily sample override lr and L1 (`cae.pipeline.RunConfig` says why).
    """

    name: str = "CA1"  # label in outputs; also picks `hidden` through `preset`
    n_factors: int = 5  # K; GKX21 report K = 1..6 ([rs] README); [rw] default 5
    hidden: tuple[int, ...] = (32,)  # beta-network hidden widths; () is CA0 (GKX21; [rw], [rs])
    batch_norm: bool = True  # Linear -> BatchNorm -> ReLU in hidden layers (GKX21; [rs])
    # managed portfolios (GKX21), raw returns (seed) or per-date regression on the betas (ours)
    factor_input: FactorInput = "portfolios"
    # L1 penalty on weights; GKX20 grid (1e-5, 1e-3), unverified; [rw] grid. [MC]: the grid
    # chose 1e-4 in all 6 windows measured; 1e-3 wrecks managed-portfolio networks (linear CA0
    # 6.0, nonlinear CA1 9.3 test R2 against 45.8 / 16.4 at 1e-4; lr 1e-3, replication 0).
    l1: float = 1e-4
    # Adam learning rate; GKX20 grid (1e-3, 1e-2), unverified; [rw], [rs]. [MC]: the grid chose
    # 1e-2 in all 6 windows measured (CA1, CA1-reg, nonlinear, 3 replications), as good as 1e-3
    # (linear CA0 45.76 vs 45.80) in 3-5x fewer epochs.
    lr: float = 1e-2
    # Validation-selected grids (GKX20): when non-empty, `fit` trains every (lr, l1) pair and
    # keeps the best validation total R2; empty uses `lr` / `l1` alone. [MC]: GKX's grid
    # lr {1e-3, 1e-2} x L1 {1e-5, 1e-4, 1e-3} picked (1e-2, 1e-4) every time, at 3-6x the time,
    # so the default is that pair and no grid.
    lr_grid: tuple[float, ...] = ()
    l1_grid: tuple[float, ...] = ()
    batch_size: int = 10_000  # observations per mini-batch, whole dates (GKX20; unverified)
    batch_dates: int | None = None  # fixed dates per mini-batch instead (the seed notebook: 32)
    # Fewer batches of `batch_size` and the dates are split into this many (`date_batches`).
    # [MC]: at GKX's 10,000 a 200 x 60 block is 1-2 Adam steps per epoch and CA1 reaches 10.3
    # test R2 (linear CA0: 12.9, against IPCA's 46.0; lr 1e-3, replication 0); 20 steps give
    # 16.4 (CA0: 45.8); 10 and 40 were within noise of 20 (at lr 1e-2, CA1-reg 40.1 / 40.7 /
    # 40.8 at 10 / 20 / 40).
    min_steps_per_epoch: int = 20
    max_epochs: int = 100  # upper bound on passes over the training block (GKX20; [rw])
    # Epochs without a better validation loss, i.e. evaluations at least `min_steps_per_epoch`
    # steps apart (GKX20; [rw]). [MC]: 10 gained 0.0-0.5 points (CA1-reg, CA2-reg) at 1.6x time.
    patience: int = 5
    n_seeds: int = 10  # ensemble members whose fits are averaged (GKX20; unverified)
    seed: int = 0  # member j is initialised from seed + j; batch order from seed
    # relative ridge of the managed-portfolio regression (cae.models.portfolios) and of the
    # regression
    # factors (`regression_factors`)
    ridge: float = 1e-8
    device: str = "cpu"  # "cpu", "cuda" or "auto" (cuda when available)
    n_threads: int | None = None  # torch intra-op threads; None leaves torch's setting
    compile: bool = False  # torch.compile the per-date loss (C++ compiler; ~10-30 s per shape)

    def grid(self) -> list[CAConfig]:
        """Return one config per (lr, l1) pair of the grids, with empty grids; [self] if none."""
        if not self.lr_grid and not self.l1_grid:
            return [self]
        return [
            replace(self, lr=lr, l1=l1, lr_grid=(), l1_grid=())
            for lr in self.lr_grid or (self.lr,)
            for l1 in self.l1_grid or (self.l1,)
        ]

    @classmethod
    def preset(cls, name: str, **overrides) -> CAConfig:
        """Return the config of a named variant (a key of `PRESETS`) with overrides."""
        if name not in PRESETS:
            raise ValueError(f"unknown CA variant {name!r}; choose one of {sorted(PRESETS)}")
        return replace(cls(name=name, **PRESETS[name]), **overrides)


class StackedLinear(nn.Module):
    """M independent affine maps `h @ W[m] + b[m]`, weights (M, n_in, n_out).

    `out_mask` (M, n_out) zeroes output units a member does not have (a smaller K): the masked
    weights and biases get zero gradients, so they stay at zero under Adam.
    """

    def __init__(self, n_members: int, n_in: int, n_out: int, out_mask: torch.Tensor | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_members, n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_members, n_out))
        if out_mask is None:
            out_mask = torch.ones(n_members, n_out)
        self.register_buffer("out_mask", out_mask.to(torch.float32).clone())

    def effective(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the masked weight (M, n_in, n_out) and bias (M, n_out)."""
        return self.weight * self.out_mask[:, None, :], self.bias * self.out_mask

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Map per-member inputs (..., M, n_in) to (..., M, n_out)."""
        W, b = self.effective()
        return torch.einsum("...mi,mio->...mo", h, W) + b

    def forward_shared(self, z: torch.Tensor) -> torch.Tensor:
        """Map one input (..., n_in) shared by all members to (..., M, n_out) in one GEMM."""
        W, b = self.effective()
        return _shared_affine(z, W, b)

    def init_member(self, m: int, n_out: int, generator: torch.Generator) -> None:
        """Draw member m's first `n_out` units from U(+-1/sqrt(n_in)) (torch's Linear default)."""
        n_in = self.weight.shape[1]
        bound = 1.0 / math.sqrt(n_in)
        with torch.no_grad():
            w = (torch.rand(n_in, n_out, generator=generator) * 2 - 1) * bound
            b = (torch.rand(n_out, generator=generator) * 2 - 1) * bound
            self.weight[m].zero_()
            self.bias[m].zero_()
            self.weight[m, :, :n_out] = w
            self.bias[m, :n_out] = b


def _shared_affine(z: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Return z @ W[m] + b[m] for all members, (..., M, n_out); W is (M, n_in, n_out)."""
    n_members, n_in, n_out = W.shape
    flat = W.permute(1, 0, 2).reshape(n_in, n_members * n_out)  # (n_in, M*n_out)
    out = torch.addmm(b.reshape(-1), z.reshape(-1, n_in), flat)  # (rows, M*n_out)
    return out.view(*z.shape[:-1], n_members, n_out)


class RowBatchNorm(nn.Module):
    """Batch normalisation per member and unit over the observed rows of a batch.

    Training normalises with the batch's mean and biased variance over rows where `mask` is
    True (padding and masked cells never enter the statistics) and updates running estimates
    (momentum 0.1, unbiased variance, as torch.nn.BatchNorm1d); evaluation uses the running
    estimates, so a row's output then depends on that row alone.
    """

    def __init__(self, n_members: int, width: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(n_members, width))
        self.bias = nn.Parameter(torch.zeros(n_members, width))
        self.register_buffer("running_mean", torch.zeros(n_members, width))
        self.register_buffer("running_var", torch.ones(n_members, width))

    def affine(
        self, mean: torch.Tensor | None, var: torch.Tensor | None, n_rows: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (a, c), both (M, H), so that BN(h) = h * a + c.

        In training `mean`, `var` (biased) and `n_rows` are the batch statistics and update the
        running estimates; in evaluation they are ignored.
        """
        if self.training:
            with torch.no_grad():
                n = n_rows.clamp(min=2).to(var.dtype)
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(var.detach() * n / (n - 1), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        a = self.weight * torch.rsqrt(var + self.eps)
        return a, self.bias - mean * a

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Normalise h (..., M, H) over its leading axes, counting only rows where `mask`."""
        mean = var = n_rows = None
        if self.training:
            w = _row_weights(h.shape[:-2], mask, h)  # (..., 1, 1)
            n_rows = w.sum()
            mean = (h * w).sum(dim=tuple(range(h.dim() - 2))) / n_rows  # (M, H)
            var = (((h - mean) ** 2) * w).sum(dim=tuple(range(h.dim() - 2))) / n_rows
        a, c = self.affine(mean, var, n_rows)
        return h * a + c


def _row_weights(lead: torch.Size, mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """Return 1.0 for observed rows and 0.0 elsewhere, shaped (..., 1, 1) to broadcast."""
    if mask is None:
        return torch.ones(*lead, 1, 1, dtype=like.dtype, device=like.device)
    return mask.to(like.dtype)[..., None, None]


def _masked_moments(z: torch.Tensor, mask: torch.Tensor | None):
    """Return (n, mean (P,), biased covariance (P, P)) of the rows of z (..., P) where `mask`."""
    z2 = z.reshape(-1, z.shape[-1])  # (rows, P)
    if mask is not None:
        z2 = z2 * mask.reshape(-1, 1).to(z.dtype)
        n = mask.sum().to(z.dtype)
    else:
        n = torch.tensor(float(z2.shape[0]), dtype=z.dtype, device=z.device)
    n_safe = n.clamp(min=1)
    mean = z2.sum(dim=0) / n_safe
    second = (z2.T @ z2).double() / n_safe.double()
    cov = (second - torch.outer(mean.double(), mean.double())).to(z.dtype)
    return n, mean, cov


class BetaNetwork(nn.Module):
    """Characteristics (..., P) -> betas (..., M, K): [Linear -> BatchNorm -> ReLU]*, Linear.

    The first hidden layer's input is shared by all members, so its batch statistics follow from
    the characteristics' mean and covariance: mean(zW + b) = mean(z) W + b and
    var(zW + b) = diag(W' cov(z) W). Batch norm then folds into the layer's weights, and the layer
    is one GEMM for all members with no pass over (rows x units) to compute statistics; this is the
    same batch normalisation, computed in a different order.
    """

    def __init__(
        self,
        n_members: int,
        n_chars: int,
        hidden: Sequence[int],
        n_factors_max: int,
        factor_mask: torch.Tensor,
        batch_norm: bool = True,
    ):
        super().__init__()
        widths = [n_chars, *hidden]
        self.batch_norm = batch_norm
        self.hidden = nn.ModuleList(
            StackedLinear(n_members, a, b) for a, b in itertools.pairwise(widths)
        )
        self.norms = nn.ModuleList(
            RowBatchNorm(n_members, w) if batch_norm else nn.Identity() for w in hidden
        )
        self.output = StackedLinear(n_members, widths[-1], n_factors_max, factor_mask)

    def first_layer(
        self, z: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the first hidden layer with batch norm folded in: W (M, P, H), b (M, H).

        In training the batch statistics come from the moments of the observed rows of z (and
        update the running estimates); in evaluation from the running estimates.
        """
        W, b = self.hidden[0].effective()  # (M, P, H), (M, H)
        if not self.batch_norm:
            return W, b
        mean_h = var_h = n_rows = None
        if self.training:
            n_rows, mean_z, cov_z = _masked_moments(z, mask)
            mean_h = torch.einsum("p,mph->mh", mean_z, W) + b
            var_h = torch.einsum("mph,pq,mqh->mh", W, cov_z, W).clamp(min=0.0)
        a, c = self.norms[0].affine(mean_h, var_h, n_rows)
        return W * a[:, None, :], b * a + c

    def features(self, z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return the last hidden layer (..., M, H), or z itself (..., P) for a linear network."""
        if len(self.hidden) == 0:
            return z
        h = torch.relu(_shared_affine(z, *self.first_layer(z, mask)))  # (..., M, H)
        for layer, norm in zip(self.hidden[1:], self.norms[1:], strict=True):
            h = layer(h)
            if self.batch_norm:
                h = norm(h, mask)
            h = torch.relu(h)
        return h

    def forward(self, z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return betas (..., M, K) for characteristics z (..., P)."""
        h = self.features(z, mask)
        if len(self.hidden) == 0:
            return self.output.forward_shared(h)
        return self.output(h)

    def weights(self) -> list[torch.Tensor]:
        """Return the effective weight matrices (the L1 penalty's arguments)."""
        return [layer.effective()[0] for layer in [*self.hidden, self.output]]


def shallow_fitted(
    z: torch.Tensor, W: torch.Tensor, w0: torch.Tensor, V: torch.Tensor, c: torch.Tensor
) -> torch.Tensor:
    """Return fitted returns (B, N, M) from `CAStack.shallow_parts` for rows z (B, N, P)."""
    A = torch.relu(_shared_affine(z, W, w0))  # (B, N, M, H)
    return (A * V[:, None]).sum(dim=-1) + c[:, None, :]


def regression_factors(
    beta: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, ridge: float
) -> torch.Tensor:
    """Return each date's and member's factors (B, M, K) by least squares of y on the betas.

    `f[b, m] = (B'B + ridge s I)^-1 B'r` over the observed rows of date b, with `B = beta[b, :, m]`
    and s the mean diagonal of B'B (a relative ridge, so it is blind to the betas' scale); the
    factor step of IPCA (Kelly, Pruitt & Su 2019, eq. 6). Solved in float64 and differentiable,
    so the beta network trains through it. A member's masked factor columns (a smaller K) are 0
    in the betas and get factor 0.

    Parameters
    ----------
    beta : torch.Tensor, shape (B, N, M, K)
    y : torch.Tensor, shape (B, N)
    mask : torch.Tensor, shape (B, N), bool
    ridge : float
    """
    w = mask.to(beta.dtype)[..., None, None]  # (B, N, 1, 1)
    weighted = (beta * w).double()
    gram = torch.einsum("bnmk,bnml->bmkl", weighted, beta.double())  # (B, M, K, K)
    rhs = torch.einsum("bnmk,bn->bmk", weighted, y.double())  # (B, M, K)
    scale = gram.diagonal(dim1=-2, dim2=-1).mean(dim=-1).clamp(min=MIN_GRAM_SCALE)  # (B, M)
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    A = gram + (ridge * scale)[..., None, None] * eye
    return torch.linalg.solve(A, rhs.unsqueeze(-1)).squeeze(-1).to(beta.dtype)


# A date with no observed row has B'B = 0; this floor keeps its ridged system solvable (f = 0).
MIN_GRAM_SCALE = 1e-12


class FactorNetwork(nn.Module):
    """Factor inputs x (T, Q) -> factors f (T, M, K), one linear layer (GKX section 2)."""

    def __init__(
        self, n_members: int, n_inputs: int, n_factors_max: int, factor_mask: torch.Tensor
    ):
        super().__init__()
        self.layer = StackedLinear(n_members, n_inputs, n_factors_max, factor_mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return factors (T, M, K)."""
        return self.layer.forward_shared(x)


class CAStack(nn.Module):
    """M conditional autoencoders sharing an architecture, trained together.

    Parameters
    ----------
    n_chars : int
        P, characteristics per ticker.
    n_factor_inputs : int
        Q, width of the factor network's input (P + 1 portfolios, or N tickers for "returns");
        0 for factors by regression on the betas (no factor network).
    hidden : sequence of int
        Hidden widths of the beta network; () is linear (CA0).
    n_factors : sequence of int, length M
        K of each member.
    seeds : sequence of int, length M
        Member m's weights are drawn from `torch.Generator().manual_seed(seeds[m])` alone, so a
        member starts the same whatever else shares its stack.
    batch_norm : bool
    ridge : float
        Relative ridge of the per-date regression when `n_factor_inputs` is 0
        (`regression_factors`).
    """

    def __init__(
        self,
        n_chars: int,
        n_factor_inputs: int,
        hidden: Sequence[int],
        n_factors: Sequence[int],
        seeds: Sequence[int],
        batch_norm: bool = True,
        ridge: float = 1e-8,
    ):
        super().__init__()
        if len(n_factors) != len(seeds) or not seeds:
            raise ValueError("n_factors and seeds must have one entry per member (at least one)")
        self.n_members = len(seeds)
        self.n_chars = n_chars
        self.n_factor_inputs = n_factor_inputs
        self.hidden_widths = tuple(hidden)
        self.batch_norm = batch_norm
        self.ridge = ridge
        self.is_regression = n_factor_inputs == 0
        self.n_factors = tuple(int(k) for k in n_factors)
        self.seeds = tuple(int(s) for s in seeds)
        k_max = max(self.n_factors)
        factor_mask = torch.zeros(self.n_members, k_max)
        for m, k in enumerate(self.n_factors):
            factor_mask[m, :k] = 1.0
        self.beta_net = BetaNetwork(self.n_members, n_chars, hidden, k_max, factor_mask, batch_norm)
        self.factor_net = None
        if not self.is_regression:
            self.factor_net = FactorNetwork(self.n_members, n_factor_inputs, k_max, factor_mask)
        for m, (k, seed) in enumerate(zip(self.n_factors, self.seeds, strict=True)):
            gen = torch.Generator().manual_seed(seed)
            for layer in self.beta_net.hidden:
                layer.init_member(m, layer.weight.shape[2], gen)
            self.beta_net.output.init_member(m, k, gen)
            if self.factor_net is not None:
                self.factor_net.layer.init_member(m, k, gen)

    def forward(
        self, z: torch.Tensor, mask: torch.Tensor, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Return every member's fitted returns (B, N, M) = beta . f for a block of dates.

        With a factor network, `beta . f` is summed through the output layer,
        `sum_h A[h] (W f)[h] + b . f`, so the betas (B, N, M, K) are never materialised during
        training. With regression factors the betas are materialised and `y` is required.

        Parameters
        ----------
        z : torch.Tensor, shape (B, N, P)
            Characteristics; rows where `mask` is False are padding and influence nothing.
        mask : torch.Tensor, shape (B, N), bool
        x : torch.Tensor, shape (B, Q)
            Factor inputs of the block's dates.
        y : torch.Tensor, shape (B, N), optional
            Returns of the block; the regression factors are realised from them.
        """
        if self.is_regression:
            beta = self.beta_net(z, mask)  # (B, N, M, K)
            f = regression_factors(beta, y, mask, self.ridge)  # (B, M, K)
            return torch.einsum("bnmk,bmk->bnm", beta, f)
        if len(self.beta_net.hidden) == 1:
            return shallow_fitted(z, *self.shallow_parts(z, mask, x))
        f = self.factor_net(x)  # (B, M, K)
        A = self.beta_net.features(z, mask)  # (B, N, M, H) or (B, N, P)
        W, b = self.beta_net.output.effective()
        c = (f * b).sum(dim=-1)  # (B, M)
        if len(self.beta_net.hidden) == 0:
            V = torch.einsum("mpk,bmk->bpm", W, f)  # (B, P, M)
            return torch.baddbmm(c[:, None, :], A, V)  # (B, N, M)
        V = torch.einsum("mhk,bmk->bmh", W, f)  # (B, M, H)
        return (A * V[:, None]).sum(dim=-1) + c[:, None, :]  # (B, N, M)

    def shallow_parts(
        self, z: torch.Tensor, mask: torch.Tensor | None, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return the small tensors that fix a one-hidden-layer network's fit on a block of dates.

        With one hidden layer, `fitted[b, n] = relu(z[b, n] W + w0) . V[b] + c[b]` where W (M, P, H)
        and w0 (M, H) are the first layer with batch norm folded in, V[b] = W_out f[b] (B, M, H) and
        c[b] = b_out . f[b] (B, M). All four are tiny; the rows enter only `shallow_fitted`, which
        the training loop can therefore run date by date (see `cae.models.autoencoder.train`).
        """
        W, w0 = self.beta_net.first_layer(z, mask)
        f = self.factor_net(x)  # (B, M, K)
        w_out, b_out = self.beta_net.output.effective()
        V = torch.einsum("mhk,bmk->bmh", w_out, f)  # (B, M, H)
        return W, w0, V, (f * b_out).sum(dim=-1)

    def betas(self, z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return betas (..., M, K) for characteristics z (..., P)."""
        return self.beta_net(z, mask)

    def factors(self, x: torch.Tensor) -> torch.Tensor:
        """Return factors (T, M, K) of the factor network for factor inputs x (T, Q)."""
        return self.factor_net(x)

    def l1_norm(self) -> torch.Tensor:
        """Return each member's sum of absolute weights over both networks, (M,)."""
        weights = self.beta_net.weights()
        if self.factor_net is not None:
            weights.append(self.factor_net.layer.effective()[0])
        return sum(w.abs().sum(dim=(1, 2)) for w in weights)

    def select(self, members: Sequence[int]) -> CAStack:
        """Return a new stack holding copies of the given members (weights and running stats)."""
        idx = torch.as_tensor(list(members), dtype=torch.long)
        sub = CAStack(
            self.n_chars,
            self.n_factor_inputs,
            self.hidden_widths,
            [self.n_factors[i] for i in idx.tolist()],
            [self.seeds[i] for i in idx.tolist()],
            batch_norm=self.batch_norm,
            ridge=self.ridge,
        ).to(self.beta_net.output.weight.device)
        k_max = max(sub.n_factors)
        target = sub.state_dict()
        for name, value in self.state_dict().items():
            picked = value.index_select(0, idx.to(value.device))
            if picked.shape != target[name].shape:  # a narrower K: drop all-zero factor columns
                picked = picked[..., :k_max]
            target[name].copy_(picked)
        sub.train(self.training)
        return sub
