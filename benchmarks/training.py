"""Time the seed notebook's grid: K in 2..6 x hidden units 8, 16, 32, one hidden layer + BatchNorm.

Synthetic panel of the notebook's size (4,420 tickers x 1,409 weeks x 15 characteristics, an
unbalanced universe), built through `panel_from_long`; train on the first 1,040 weeks, validate on
the next 52, up to 250 epochs with early stopping (patience 5), mini-batches of 32 dates, factor
network over the raw cross-section of returns (the notebook's set-up).

- fast: `ConditionalAutoencoder.fit_many` (members sharing a hidden width train in one stack,
  observed cells only, stopped members dropped from the stack);
- reference: the notebook's way (Keras-like): one configuration at a time, dense 32 x 4,420 blocks
  including absent tickers, one optimizer step per batch. Timed on a few epochs per hidden width,
  then extrapolated to the epochs each configuration ran in the fast grid.

Run: `PYTHONPATH=. python benchmarks/training.py` (add `--small` for a quick dry run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import threading
import time
import tracemalloc

import numpy as np
import polars as pl
import torch
from torch import nn

from cae.models.autoencoder import ConditionalAutoencoder
from cae.models.autoencoder.model import CAConfig
from cae.panel.tensors import Panel, panel_from_long

GRID_K = (2, 3, 4, 5, 6)
GRID_HIDDEN = (8, 16, 32)


class PeakRss:
    """Sample the process's resident memory every 20 ms and keep the peak of a phase."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def current() -> int:
        """Return the resident set size in bytes."""
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            time.sleep(0.02)

    def __enter__(self):
        self.peak = self.current()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())


def synthetic_long(n_dates: int, n_tickers: int, n_chars: int, seed: int) -> pl.DataFrame:
    """Long rows of an unbalanced panel (listings, delistings, gaps), nonlinear 3-factor returns."""
    rng = np.random.default_rng(seed)
    start = rng.integers(-n_dates // 4, 3 * n_dates // 4, n_tickers)  # every ticker listed a while
    life = rng.integers(n_dates // 3, 2 * n_dates, n_tickers)
    t = np.arange(n_dates)[:, None]
    present = (t >= start) & (t < start + life) & (rng.random((n_dates, n_tickers)) > 0.02)
    X = np.empty((n_dates, n_tickers, n_chars), np.float32)  # persistent AR(1), squashed
    X[0] = rng.uniform(-1, 1, (n_tickers, n_chars))
    for d in range(1, n_dates):
        X[d] = np.clip(0.97 * X[d - 1] + 0.24 * rng.standard_normal((n_tickers, n_chars)), -1, 1)
    beta = np.stack([1 + 0.5 * X[..., 0], 2 * X[..., 1] ** 2 - 0.6, X[..., 2] * X[..., 3]], -1)
    f = rng.normal([0.002, 0.001, 0.0], 0.02, (n_dates, 3)).astype(np.float32)
    noise = 0.03 * rng.standard_t(5, (n_dates, n_tickers)).astype(np.float32)
    ret = np.zeros((n_dates, n_tickers), np.float32)  # ret[d] explained by chars at d - 1
    ret[1:] = np.einsum("tnk,tk->tn", beta[:-1], f[1:]) + noise[1:]
    del beta
    t_idx, n_idx = np.nonzero(present)
    has_next = np.zeros_like(present)
    has_next[:-1] = present[1:]
    ret_fwd = np.where(has_next[t_idx, n_idx], np.roll(ret, -1, axis=0)[t_idx, n_idx], np.nan)
    dates = np.datetime64("1995-01-06") + 7 * np.arange(n_dates).astype("timedelta64[D]")
    columns = {
        "date": pl.Series(dates[t_idx]),
        "ticker": pl.Series([f"S{n:04d}" for n in range(n_tickers)])[n_idx],
        "ret": pl.Series(ret[t_idx, n_idx].astype(np.float64)),
        "ret_fwd": pl.Series(ret_fwd.astype(np.float64)).fill_nan(None),
    }
    for p in range(n_chars):
        columns[f"c{p:02d}"] = pl.Series(X[t_idx, n_idx, p].astype(np.float64))
    return pl.DataFrame(columns)


class NotebookModel(nn.Module):
    """The seed notebook's net: Linear -> BatchNorm -> ReLU -> Linear betas, Linear(r) factors."""

    def __init__(self, n_chars: int, n_tickers: int, hidden: int, n_factors: int):
        super().__init__()
        self.beta = nn.Sequential(
            nn.Linear(n_chars, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_factors),
        )
        self.factor = nn.Linear(n_tickers, n_factors)

    def forward(self, X: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Return fitted returns (B, N) for characteristics (B, N, P) and returns (B, N)."""
        n_dates, n_tickers, n_chars = X.shape
        beta = self.beta(X.reshape(-1, n_chars)).view(n_dates, n_tickers, -1)  # (B, N, K)
        return torch.einsum("bnk,bk->bn", beta, self.factor(r))

    def l1(self) -> torch.Tensor:
        """Return the sum of absolute weights of every Linear layer."""
        return sum(m.weight.abs().sum() for m in self.modules() if isinstance(m, nn.Linear))


def reference_epochs(
    train: Panel, val: Panel, hidden: int, n_factors: int, epochs: int, config: CAConfig
) -> list[float]:
    """Train one configuration the notebook's way; return seconds per epoch (with validation)."""
    torch.manual_seed(0)
    model = NotebookModel(train.n_chars, train.n_tickers, hidden, n_factors)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(0)
    r_train = torch.where(train.mask, train.y, 0.0)
    r_val = torch.where(val.mask, val.y, 0.0)
    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        model.train()
        for dates in torch.split(torch.randperm(train.n_dates, generator=gen), 32):
            m = train.mask[dates]
            err = (train.y[dates] - model(train.X[dates], r_train[dates])) * m
            loss = (err * err).sum() / m.sum() + config.l1 * model.l1()
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            err = (val.y - model(val.X, r_val)) * val.mask
            float((err * err).sum())
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a 600-ticker dry run")
    parser.add_argument("--max-epochs", type=int, default=250)
    parser.add_argument("--ref-epochs", type=int, default=2, help="reference epochs per width")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--compile", action="store_true", help="torch.compile the per-date loss")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n_tickers = 600 if args.small else 4420
    n_dates, n_chars, n_train, n_val = 1409, 15, 1040, 52
    print(f"# Training benchmark ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC), {vars(args)}")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
        f"load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )

    t0 = time.perf_counter()
    frame = synthetic_long(n_dates, n_tickers, n_chars, seed=0)
    chars = [f"c{p:02d}" for p in range(n_chars)]
    gen_seconds = time.perf_counter() - t0
    tracemalloc.start()
    with PeakRss() as rss:
        before = PeakRss.current()
        t0 = time.perf_counter()
        panel = panel_from_long(frame, chars, target="forward")
        build_seconds = time.perf_counter() - t0
    numpy_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tensor_bytes = panel.X.nbytes + panel.y.nbytes + panel.mask.nbytes
    print(
        f"\npanel: {panel.n_tickers} tickers x {panel.n_dates} weeks x {panel.n_chars} chars, "
        f"{int(panel.mask.sum()):,} observed cells ({float(panel.mask.float().mean()):.0%}), "
        f"long frame {frame.height:,} rows ({frame.estimated_size() / 2**20:.0f} MiB) "
        f"generated in {gen_seconds:.1f} s"
    )
    print(
        f"panel_from_long: {build_seconds:.2f} s, tensors {tensor_bytes / 2**20:.0f} MiB, "
        f"numpy peak {numpy_peak / 2**20:.0f} MiB, RSS +{(rss.peak - before) / 2**20:.0f} MiB "
        f"during the build"
    )
    del frame

    train = panel.slice_dates(0, n_train)
    val = panel.slice_dates(n_train, n_train + n_val)
    base = CAConfig(
        factor_input="returns",
        batch_dates=32,
        max_epochs=args.max_epochs,
        patience=5,
        n_seeds=1,
        lr=1e-3,
        l1=1e-5,
        compile=args.compile,
    )
    configs = [
        CAConfig(**{**base.__dict__, "name": f"K{k}-H{h}", "hidden": (h,), "n_factors": k})
        for h in GRID_HIDDEN
        for k in GRID_K
    ]
    with PeakRss() as rss_fast:
        t0, c0 = time.perf_counter(), time.process_time()
        models = ConditionalAutoencoder.fit_many(configs, train, val)
        fast_seconds, fast_cpu = time.perf_counter() - t0, time.process_time() - c0

    print("\n## Fast grid (15 configurations; members sharing a hidden width train as one stack)")
    print("| config | best epoch | epochs run | best val MSE | val total R2 |")
    print("|---|---:|---:|---:|---:|")
    for i, (config, model) in enumerate(zip(configs, models, strict=True)):
        member = i % len(GRID_K)
        hist = model.history_
        print(
            f"| {config.name} | {hist.best_epoch[member]} | {hist.epochs_run[member]} | "
            f"{hist.best_val[member]:.3e} | {model.score(val):.3f} |"
        )
    print(
        "\n| hidden | members | epochs | wall s | CPU s | epoch 1 wall s (compiles) "
        "| later epochs, 5 members: wall s/epoch | CPU s/epoch |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for g, h in enumerate(GRID_HIDDEN):
        hist = models[g * len(GRID_K)].history_
        later = [
            (w, c)
            for e, (w, c, a) in enumerate(
                zip(hist.epoch_seconds, hist.epoch_cpu_seconds, hist.active_members, strict=True)
            )
            if a == len(GRID_K) and e > 0
        ]
        wall = np.mean([w for w, _ in later]) if later else float("nan")
        cpu = np.mean([c for _, c in later]) if later else float("nan")
        print(
            f"| {h} | {len(GRID_K)} | {len(hist.epoch_seconds)} | {sum(hist.epoch_seconds):.0f} | "
            f"{sum(hist.epoch_cpu_seconds):.0f} | {hist.epoch_seconds[0]:.1f} | {wall:.2f} | "
            f"{cpu:.2f} |"
        )
    print(
        f"\nfast grid total: {fast_seconds:.0f} s wall ({fast_seconds / 60:.1f} min), "
        f"{fast_cpu:.0f} s CPU, peak RSS {rss_fast.peak / 2**30:.2f} GiB (panel included); "
        f"torch.compile={base.compile}"
    )

    print(
        f"\n## The same library code one configuration at a time (K = 6, a stack of 1), "
        f"{args.ref_epochs} epochs per hidden width"
    )
    print("| hidden | wall s/epoch | CPU s/epoch | stacked CPU s/epoch per member |")
    print("|---:|---:|---:|---:|")
    for g, h in enumerate(GRID_HIDDEN):
        single = CAConfig(
            **{**configs[g * len(GRID_K) + len(GRID_K) - 1].__dict__, "max_epochs": args.ref_epochs}
        )
        hist = ConditionalAutoencoder(single).fit(train, val).history_
        stacked = models[g * len(GRID_K)].history_
        per_member = [
            c / a
            for e, (c, a) in enumerate(
                zip(stacked.epoch_cpu_seconds, stacked.active_members, strict=True)
            )
            if e > 0 or not base.compile
        ]
        print(
            f"| {h} | {np.mean(hist.epoch_seconds):.2f} | {np.mean(hist.epoch_cpu_seconds):.2f} "
            f"| {np.mean(per_member):.2f} |"
        )

    print(f"\n## Reference (notebook-style loop), {args.ref_epochs} epochs per hidden width, K = 6")
    print("| hidden | wall s/epoch | CPU s/epoch |")
    print("|---:|---:|---:|")
    ref_epoch, ref_cpu = {}, {}
    with PeakRss() as rss_ref:
        for h in GRID_HIDDEN:
            c0 = time.process_time()
            seconds = reference_epochs(train, val, h, 6, args.ref_epochs, base)
            ref_epoch[h] = float(np.mean(seconds))
            ref_cpu[h] = (time.process_time() - c0) / args.ref_epochs
            print(f"| {h} | {ref_epoch[h]:.2f} | {ref_cpu[h]:.2f} |")
    ref_total = sum(
        ref_epoch[c.hidden[0]] * m.history_.epochs_run[i % len(GRID_K)]
        for i, (c, m) in enumerate(zip(configs, models, strict=True))
    )
    print(
        f"\nreference grid, extrapolated to the epochs each configuration ran above: "
        f"{ref_total:.0f} s ({ref_total / 60:.1f} min), peak RSS {rss_ref.peak / 2**30:.2f} GiB"
    )
    print(f"speed-up fast vs reference (wall): {ref_total / fast_seconds:.1f}x")
    ref_cpu_total = sum(
        ref_cpu[c.hidden[0]] * m.history_.epochs_run[i % len(GRID_K)]
        for i, (c, m) in enumerate(zip(configs, models, strict=True))
    )
    print(
        f"reference grid CPU time, same extrapolation: {ref_cpu_total:.0f} s; "
        f"speed-up (CPU time, robust to other jobs on the machine): {ref_cpu_total / fast_cpu:.1f}x"
    )
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
