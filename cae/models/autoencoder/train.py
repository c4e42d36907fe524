"""Training loop of the conditional autoencoder: packed rows, mini-batches of dates, early stopping.

GKX (2021) section 3.2 / appendix: minimise the masked mean squared error plus an L1 penalty on
the weights with Adam, stop when the validation loss has not improved for `patience` epochs and
keep the best epoch's weights, and average an ensemble of seeds. Here every member of a grid and
of an ensemble that shares an architecture trains in one stacked `CAStack`: one forward and
backward pass per mini-batch for all of them. A member whose patience runs out is dropped from the
working stack (its best weights are kept), so late epochs only pay for members still learning.
An epoch is at least `CAConfig.min_steps_per_epoch` mini-batches: at GKX's 10,000 observations a
small training block (200 stocks x 60 months) would otherwise be one Adam step per epoch, and
patience would end training before the network has moved.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from cae.errors import ConfigError
from cae.models.autoencoder.model import CAConfig, CAStack, shallow_fitted
from cae.models.portfolios import managed_portfolios
from cae.panel.tensors import Panel

__all__ = [
    "PackedPanel",
    "TrainHistory",
    "batch_loss",
    "date_batches",
    "factor_inputs",
    "loss_backward",
    "member_mse",
    "pack_panel",
    "resolve_device",
    "train_configs",
    "train_stack",
]

EVAL_ROWS_PER_CHUNK = 500_000  # bounds activations of evaluation passes to ~R x M x H floats


def resolve_device(name: str) -> torch.device:
    """Return the torch device for "cpu", "cuda" or "auto" (cuda when available, else cpu)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but torch sees no CUDA device")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"device must be 'cpu', 'cuda' or 'auto', not {name!r}")
    return torch.device(name)


def factor_inputs(panel: Panel, factor_input: str, ridge: float) -> torch.Tensor:
    """Return the factor network's inputs (T, Q): managed portfolios (Q = P + 1) or returns (Q = N).

    Both use `y[t]` of observed cells only; they are the data the factors are realised from.
    Regression factors have no factor network: Q = 0 (they are realised from `y` directly).
    """
    if factor_input == "portfolios":
        return managed_portfolios(panel.X, panel.y, panel.mask, ridge)
    if factor_input == "returns":
        return torch.where(panel.mask, panel.y, torch.zeros_like(panel.y))
    if factor_input == "regression":
        return panel.y.new_zeros((panel.n_dates, 0))
    raise ConfigError(
        f"factor_input must be 'portfolios', 'returns' or 'regression', not {factor_input!r}"
    )


@dataclass(frozen=True)
class PackedPanel:
    """A panel with each date's observed cells moved to the front of its row, plus factor inputs.

    Row t holds its `counts[t]` observed cells in columns 0..counts[t]-1 (ticker order kept) and
    zero padding after them, so a batch of dates is a dense block `z[dates, :max count]` with no
    masked cell in it and little padding.

    Attributes
    ----------
    z : torch.Tensor, shape (T, C, P); characteristics, C = the largest count of any date.
    y : torch.Tensor, shape (T, C); targets.
    mask : torch.Tensor, shape (T, C), bool; True on the observed (front) cells.
    counts : torch.Tensor, shape (T,), int64; observed cells per date.
    x : torch.Tensor, shape (T, Q); factor inputs per date.
    """

    z: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    counts: torch.Tensor
    x: torch.Tensor

    @property
    def n_rows(self) -> int:
        """Number of observed cells."""
        return int(self.counts.sum())

    def block(self, dates: torch.Tensor):
        """Return z (B, C_b, P), y, mask (B, C_b) and x (B, Q) of `dates`; C_b = their max count."""
        dates = dates.to(self.z.device)
        width = max(int(self.counts[dates].max()), 1)
        return (
            self.z[dates, :width],
            self.y[dates, :width],
            self.mask[dates, :width],
            self.x[dates],
        )


def pack_panel(
    panel: Panel, factor_input: str, ridge: float, device: torch.device | str = "cpu"
) -> PackedPanel:
    """Return `panel` as a `PackedPanel` on `device`: observed cells first on every date."""
    mask = panel.mask
    counts = mask.sum(dim=1)  # (T,)
    width = max(int(counts.max()) if len(counts) else 0, 1)
    t_idx, n_idx = mask.nonzero(as_tuple=True)
    slot = (torch.cumsum(mask, dim=1) - 1)[t_idx, n_idx]  # position of the cell within its date
    z = torch.zeros((panel.n_dates, width, panel.n_chars), dtype=panel.X.dtype)
    y = torch.zeros((panel.n_dates, width), dtype=panel.y.dtype)
    packed_mask = torch.zeros((panel.n_dates, width), dtype=torch.bool)
    z[t_idx, slot] = panel.X[t_idx, n_idx]
    y[t_idx, slot] = panel.y[t_idx, n_idx]
    packed_mask[t_idx, slot] = True
    return PackedPanel(
        z=z.to(device),
        y=y.to(device),
        mask=packed_mask.to(device),
        counts=counts.to(device),
        x=factor_inputs(panel, factor_input, ridge).to(device),
    )


def date_batches(
    counts: torch.Tensor,
    batch_size: int,
    batch_dates: int | None,
    generator: torch.Generator,
    min_batches: int = 1,
) -> list[torch.Tensor]:
    """Split a shuffled order of the dates with observations into mini-batches of whole dates.

    A batch is `batch_dates` dates when given (the seed notebook's 32), else consecutive
    shuffled dates until they hold at least `batch_size` observations (GKX's 10,000). When that
    gives fewer than `min_batches` batches (a small training block: 200 tickers x 60 months is
    one batch of 10,000), the dates are split into `min_batches` batches of (nearly) equal
    numbers of dates instead, or one date each when there are fewer dates.
    """
    counts = counts.cpu()
    dates = torch.nonzero(counts > 0).squeeze(1)
    dates = dates[torch.randperm(len(dates), generator=generator)]
    if batch_dates is not None:
        return list(torch.split(dates, batch_dates))
    n_rows = int(counts.sum())
    if len(dates) and math.ceil(n_rows / batch_size) < min_batches:
        return list(torch.tensor_split(dates, min(min_batches, len(dates))))
    batches, start, total = [], 0, 0
    for i, n in enumerate(counts[dates].tolist()):
        total += n
        if total >= batch_size:
            batches.append(dates[start : i + 1])
            start, total = i + 1, 0
    if start < len(dates):
        batches.append(dates[start:])
    return batches


def batch_loss(stack: CAStack, z, y, mask, x) -> torch.Tensor:
    """Return each member's mean squared error over the observed cells of a block, (M,)."""
    fitted = stack(z, mask, x, y)  # (B, C, M)
    err = (y[..., None] - fitted) * mask[..., None]
    return (err * err).sum(dim=(0, 1)) / mask.sum().clamp(min=1)


def _shallow_sse(z, y, mask, W, w0, V, c) -> torch.Tensor:
    """Return each member's sum of squared errors over the observed cells of a block, (M,)."""
    err = (y[..., None] - shallow_fitted(z, W, w0, V, c)) * mask[..., None]
    return (err * err).sum(dim=(0, 1))


def loss_backward(stack: CAStack, z, y, mask, x, shallow_sse=_shallow_sse) -> torch.Tensor:
    """Accumulate the gradient of the summed members' batch MSE; return the MSE (M,), detached.

    For a one-hidden-layer beta network the batch runs date by date: the batch statistics and
    the output layer reduce to four small tensors (`CAStack.shallow_parts`), so each date's
    rows pass forward and backward while they are in cache, and the small tensors' gradients
    are pushed back through the shared graph once. This is the same gradient as
    `batch_loss(...).sum().backward()` (batch norm still uses the whole batch's statistics), in
    about a quarter of the time on CPU, where the large elementwise passes are memory-bound.
    """
    if len(stack.beta_net.hidden) != 1 or stack.is_regression:
        mse = batch_loss(stack, z, y, mask, x)
        mse.sum().backward()
        return mse.detach()
    parts = stack.shallow_parts(z, mask, x)
    leaves = [p.detach().requires_grad_() for p in parts]
    n_obs = mask.sum().clamp(min=1)
    sse = torch.zeros(stack.n_members, device=z.device)
    for b in range(z.shape[0]):
        d = slice(b, b + 1)
        part = shallow_sse(z[d], y[d], mask[d], leaves[0], leaves[1], leaves[2][d], leaves[3][d])
        (part.sum() / n_obs).backward()
        sse += part.detach()
    grads = [leaf.grad if leaf.grad is not None else torch.zeros_like(leaf) for leaf in leaves]
    torch.autograd.backward(list(parts), grads)
    return sse / n_obs


@torch.no_grad()
def member_mse(stack: CAStack, packed: PackedPanel) -> torch.Tensor:
    """Return each member's mean squared error over all observed cells, (M,), in eval mode."""
    was_training = stack.training
    stack.eval()
    sse = torch.zeros(stack.n_members, dtype=torch.float64, device=packed.y.device)
    n_dates = packed.x.shape[0]
    step = max(1, EVAL_ROWS_PER_CHUNK // max(packed.z.shape[1], 1))
    for start in range(0, n_dates, step):
        dates = torch.arange(start, min(start + step, n_dates))
        z, y, mask, x = packed.block(dates)
        fitted = stack(z, mask, x, y)
        err = (y[..., None] - fitted) * mask[..., None]
        sse += (err * err).sum(dim=(0, 1)).double()
    stack.train(was_training)
    return (sse / max(packed.n_rows, 1)).float()


@dataclass
class TrainHistory:
    """What happened while training a stack; per-member lists are indexed like the stack."""

    train_loss: list[list[float]] = field(default_factory=list)  # per epoch, per member (NaN=off)
    val_mse: list[list[float]] = field(default_factory=list)  # per epoch, per member (NaN=off)
    best_epoch: list[int] = field(default_factory=list)  # 1-based epoch whose weights were kept
    best_val: list[float] = field(default_factory=list)
    epochs_run: list[int] = field(default_factory=list)  # epochs each member trained
    epoch_seconds: list[float] = field(default_factory=list)  # wall clock
    epoch_cpu_seconds: list[float] = field(default_factory=list)  # this process's CPU time
    active_members: list[int] = field(default_factory=list)  # members in the working stack


def _copy_members(src: CAStack, src_idx: Sequence[int], dst: CAStack, dst_idx: Sequence[int]):
    """Copy members' weights and running statistics from `src` into `dst` slots."""
    src_state, dst_state = src.state_dict(), dst.state_dict()
    s = torch.as_tensor(list(src_idx), dtype=torch.long)
    d = torch.as_tensor(list(dst_idx), dtype=torch.long)
    for name, value in src_state.items():
        target = dst_state[name]
        picked = value[s.to(value.device)]
        if picked.shape[-1] != target.shape[-1]:  # narrower K in the smaller stack
            target = target[..., : picked.shape[-1]]
        target[d.to(target.device)] = picked


def _compact(stack: CAStack, opt: torch.optim.Adam, keep: list[int], lr: float):
    """Return a stack of the `keep` members and an Adam whose state continues theirs."""
    sub = stack.select(keep)
    sub.train(stack.training)
    new_opt = torch.optim.Adam(sub.parameters(), lr=lr)
    k_max = max(sub.n_factors)
    idx = torch.as_tensor(keep, dtype=torch.long, device=next(stack.parameters()).device)
    for old_p, new_p in zip(stack.parameters(), sub.parameters(), strict=True):
        state = opt.state.get(old_p)
        if not state:
            continue
        new_state = {}
        for key, value in state.items():
            if torch.is_tensor(value) and value.dim() > 0 and value.shape == old_p.shape:
                value = value[idx]
                if value.shape[-1] != new_p.shape[-1]:
                    value = value[..., :k_max]
                new_state[key] = value.clone()
            else:
                new_state[key] = value.clone() if torch.is_tensor(value) else value
        new_opt.state[new_p] = new_state
    return sub, new_opt


def train_stack(
    stack: CAStack,
    train: PackedPanel,
    val: PackedPanel | None,
    l1: torch.Tensor | float,
    lr: float,
    batch_size: int,
    batch_dates: int | None,
    max_epochs: int,
    patience: int,
    seed: int,
    compile: bool = False,
    min_steps: int = 1,
) -> tuple[CAStack, TrainHistory]:
    """Train every member of `stack` with Adam and per-member early stopping.

    Loss per member: mean squared error over the batch's observed cells plus `l1` times the sum
    of absolute weights; members' losses are summed, which leaves their gradients independent.
    After each epoch each member's validation MSE (eval mode) is compared with its best; a member
    that has not improved for `patience` epochs stops. An epoch is at least `min_steps` Adam
    steps (`date_batches`), so patience counts evaluations at least `min_steps` steps apart.
    The returned stack holds every member's best-epoch weights (the last epoch's when `val` is
    None). Batch order comes from
    `torch.Generator().manual_seed(seed)`, so the result is a function of the inputs and seeds.

    Stopped members leave the working stack. With `compile` (torch.compile of the per-date loss
    of one-hidden-layer networks, ~10-30 s per new stack shape) they leave only once half the
    stack has stopped, so that few shapes are compiled; until then they keep stepping, untracked.

    Returns
    -------
    (CAStack, TrainHistory)
        A new stack with the best weights, and the training record.
    """
    n_members = stack.n_members
    device = train.y.device
    l1_all = torch.as_tensor(l1, dtype=torch.float32, device=device).expand(n_members).clone()
    sse_fn = torch.compile(_shallow_sse, dynamic=True) if compile else _shallow_sse
    best_stack = stack.select(range(n_members))
    work, opt = stack, torch.optim.Adam(stack.parameters(), lr=lr)
    work.train()
    slots = list(range(n_members))  # original index of each member in the working stack
    live = set(slots)  # members still being tracked
    best = [float("inf")] * n_members
    hist = TrainHistory(
        best_epoch=[0] * n_members, best_val=[float("nan")] * n_members, epochs_run=[0] * n_members
    )
    since_best = [0] * n_members
    generator = torch.Generator().manual_seed(seed)
    use_val = val is not None and val.n_rows > 0
    for epoch in range(1, max_epochs + 1):
        started, cpu_started = time.perf_counter(), time.process_time()
        l1_work = l1_all[torch.as_tensor(slots, device=device)]
        loss_sum = torch.zeros(len(slots), device=device)
        batches = date_batches(train.counts, batch_size, batch_dates, generator, min_steps)
        for dates in batches:
            opt.zero_grad(set_to_none=True)
            mse = loss_backward(work, *train.block(dates), shallow_sse=sse_fn)
            penalty = l1_work * work.l1_norm()
            penalty.sum().backward()
            opt.step()
            loss_sum += mse + penalty.detach()
        tracked = [(j, m) for j, m in enumerate(slots) if m in live]
        train_loss = [float("nan")] * n_members
        for j, m in tracked:
            train_loss[m] = float(loss_sum[j]) / max(len(batches), 1)
            hist.epochs_run[m] = epoch
        hist.train_loss.append(train_loss)
        val_row = [float("nan")] * n_members
        if use_val:
            scores = member_mse(work, val).tolist()
            improved_src, improved = [], []
            for j, m in tracked:
                val_row[m] = scores[j]
                if scores[j] < best[m]:
                    best[m], since_best[m] = scores[j], 0
                    hist.best_epoch[m], hist.best_val[m] = epoch, scores[j]
                    improved_src.append(j)
                    improved.append(m)
                else:
                    since_best[m] += 1
                    if since_best[m] >= patience:
                        live.discard(m)
            if improved:
                _copy_members(work, improved_src, best_stack, improved)
        else:
            _copy_members(work, [j for j, _ in tracked], best_stack, [m for _, m in tracked])
            for _, m in tracked:
                hist.best_epoch[m] = epoch
        hist.val_mse.append(val_row)
        hist.active_members.append(len(tracked))
        hist.epoch_seconds.append(time.perf_counter() - started)
        hist.epoch_cpu_seconds.append(time.process_time() - cpu_started)
        if not live:
            break
        if len(live) < len(slots) and (not compile or len(live) <= len(slots) // 2):
            keep = [j for j, m in enumerate(slots) if m in live]
            work, opt = _compact(work, opt, keep, lr)
            slots = [slots[j] for j in keep]
    best_stack.eval()
    return best_stack, hist


def _group_key(config: CAConfig) -> tuple:
    """Configs with equal keys can share one stack: same architecture and training schedule."""
    return (
        config.hidden,
        config.batch_norm,
        config.factor_input,
        config.lr,
        config.batch_size,
        config.batch_dates,
        config.min_steps_per_epoch,
        config.max_epochs,
        config.patience,
        config.seed,
        config.ridge,
        config.device,
        config.compile,
    )


def train_configs(
    configs: Sequence[CAConfig], train: Panel, val: Panel | None
) -> list[tuple[CAStack, TrainHistory]]:
    """Train each config's ensemble; configs sharing an architecture train in one stack.

    Member j of a config's ensemble is seeded with `config.seed + j`. Grid members may differ in
    `n_factors` and `l1`; everything in `_group_key` must match to share a stack.

    Returns
    -------
    list of (CAStack, TrainHistory)
        One per config, in order: a stack of that config's `n_seeds` members with their best
        weights, and the history of the group it trained in (members of other configs included).
    """
    if not configs:
        return []
    groups: dict[tuple, list[int]] = {}
    for i, config in enumerate(configs):
        groups.setdefault(_group_key(config), []).append(i)
    results: list[tuple[CAStack, TrainHistory] | None] = [None] * len(configs)
    packed_cache: dict[tuple, tuple[PackedPanel, PackedPanel | None]] = {}
    for indices in groups.values():
        first = configs[indices[0]]
        if first.n_threads is not None:
            torch.set_num_threads(first.n_threads)
        device = resolve_device(first.device)
        cache_key = (first.factor_input, first.ridge, str(device))
        if cache_key not in packed_cache:
            packed_cache[cache_key] = (
                pack_panel(train, first.factor_input, first.ridge, device),
                None if val is None else pack_panel(val, first.factor_input, first.ridge, device),
            )
        train_p, val_p = packed_cache[cache_key]
        ks, seeds, l1s, owner = [], [], [], []
        for i in indices:
            c = configs[i]
            for j in range(c.n_seeds):
                ks.append(c.n_factors)
                seeds.append(c.seed + j)
                l1s.append(c.l1)
                owner.append(i)
        stack = CAStack(
            train.n_chars,
            train_p.x.shape[1],
            first.hidden,
            ks,
            seeds,
            first.batch_norm,
            first.ridge,
        ).to(device)
        fitted, hist = train_stack(
            stack,
            train_p,
            val_p,
            torch.tensor(l1s),
            first.lr,
            first.batch_size,
            first.batch_dates,
            first.max_epochs,
            first.patience,
            first.seed,
            first.compile,
            first.min_steps_per_epoch,
        )
        for i in indices:
            members = [m for m, o in enumerate(owner) if o == i]
            results[i] = (fitted.select(members).eval(), hist)
    return results  # type: ignore[return-value]
