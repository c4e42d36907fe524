"""Fit time and peak memory of each baseline on a panel the size of the seed notebook's.

4,420 tickers x 1,409 weeks x 15 characteristics by default (simulated, nonlinear betas); one
window: train 1,040 weeks, validate 52, test the rest. Prints one row per model.

    PYTHONPATH=. python benchmarks/baselines_scale.py [--n-tickers 4420] [--n-dates 1409]
"""

from __future__ import annotations

import argparse
import resource
import time

import polars as pl
import torch

from cae.datasets.simulate import SimConfig, simulate_panel
from cae.evaluation.evaluate import evaluate
from cae.evaluation.windows import WindowPlan
from cae.models.cross_sectional import CrossSectional
from cae.models.ipca import IPCA
from cae.models.observable import Observable
from cae.models.pca import PCA

N_FACTORS = 5  # K in the middle of the notebook's grid (2..6)


def peak_rss_gb() -> float:
    """Return this process's peak resident memory so far, in GB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    """Simulate the panel once, then time evaluate() for each baseline on one window."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-tickers", type=int, default=4420)
    parser.add_argument("--n-dates", type=int, default=1409)
    parser.add_argument("--n-chars", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    sim = simulate_panel(
        SimConfig(
            n_dates=args.n_dates,
            n_tickers=args.n_tickers,
            n_chars=args.n_chars,
            beta_shape="nonlinear",
            seed=0,
        )
    )
    print(
        f"panel {args.n_tickers} tickers x {args.n_dates} weeks x {args.n_chars} chars, "
        f"{int(sim.panel.mask.sum())} observed cells; simulated in "
        f"{time.perf_counter() - start:.1f} s; peak RSS {peak_rss_gb():.2f} GB; "
        f"{args.threads} torch thread(s)"
    )
    n_train, n_val = round(args.n_dates * 1040 / 1409), round(args.n_dates * 52 / 1409)
    plan = WindowPlan(n_train=n_train, n_val=n_val, n_test=args.n_dates - n_train - n_val)
    rows = []
    for name, factory in [
        ("pca", lambda: PCA(n_factors=N_FACTORS)),
        ("ipca", lambda: IPCA(n_factors=N_FACTORS)),
        ("observable", lambda: Observable()),
        ("cross_sectional", lambda: CrossSectional()),
    ]:
        start = time.perf_counter()
        result = evaluate(sim.panel, plan, [(name, factory)], keep_betas=False)
        summary = result.summary().row(0, named=True)
        rows.append(
            {
                "model": name,
                "n_factors": summary["n_factors"],
                "R2_total_%": 100 * summary["r2_total"],
                "R2_pred_%": 100 * summary["r2_pred"],
                "seconds": time.perf_counter() - start,
                "peak_rss_gb": peak_rss_gb(),
            }
        )
    with pl.Config(
        tbl_formatting="ASCII_MARKDOWN",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        float_precision=2,
    ):
        print(pl.DataFrame(rows))


if __name__ == "__main__":
    main()
