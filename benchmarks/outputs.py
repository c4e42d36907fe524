"""Time writing, publishing and querying output tables at the sample's scale.

One run with N_WINDOWS windows, each storing betas and fitted returns for every test date,
ticker, model (and factor), written one part per window as a mapped train task would.
Prints one row per step with the rows, the seconds and the bytes on disk.

Usage: python benchmarks/outputs.py [N_TICKERS] [N_DATES_PER_WINDOW]
"""

import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from cae.home import Home
from cae.runs import catalog, outputs

N_WINDOWS = 10
MODELS = ("ca0", "ca1", "ca2", "ca3", "pca")
N_FACTORS = 6


def _window_frames(window_id: int, n_tickers: int, n_dates: int, rng: np.random.Generator):
    start = date(2010, 1, 1) + timedelta(days=window_id * n_dates)
    dates = pl.date_range(start, start + timedelta(days=n_dates - 1), eager=True)
    tickers = pl.Series("ticker", [f"T{i:04d}" for i in range(n_tickers)])
    grid = (
        pl.DataFrame({"model": MODELS})
        .join(dates.to_frame("date"), how="cross")
        .join(tickers.to_frame(), how="cross")
    )
    betas = grid.join(
        pl.DataFrame({"factor": [f"f{k + 1}" for k in range(N_FACTORS)]}), how="cross"
    ).with_columns(
        window_id=pl.lit(window_id), beta=pl.Series(rng.normal(1, 0.5, grid.height * N_FACTORS))
    )
    ret = rng.normal(0, 0.02, grid.height)
    fitted = grid.with_columns(
        window_id=pl.lit(window_id),
        ret=pl.Series(ret),
        ret_hat_total=pl.Series(ret * 0.3),
        ret_hat_pred=pl.Series(ret * 0.01),
    )
    return betas, fitted


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*.parquet"))


def main(n_tickers: int, n_dates: int) -> None:
    rng = np.random.default_rng(0)
    frames = [_window_frames(w, n_tickers, n_dates, rng) for w in range(N_WINDOWS)]
    n_betas = sum(b.height for b, _ in frames)
    n_fitted = sum(f.height for _, f in frames)
    rows = []
    with tempfile.TemporaryDirectory() as home:
        run_id = outputs.start_run(home, {"bench": True})
        t0 = time.perf_counter()
        for w, (betas, fitted) in enumerate(frames):
            outputs.write_table(home, run_id, "betas", betas, part=f"w{w}")
            outputs.write_table(home, run_id, "fitted", fitted, part=f"w{w}")
        rows.append(("validate + stage (10 parts)", n_betas + n_fitted, time.perf_counter() - t0))
        t0 = time.perf_counter()
        outputs.finish_run(home, run_id, "succeeded")
        published = Home.of(home).outputs
        rows.append(("publish (finish_run)", n_betas + n_fitted, time.perf_counter() - t0))
        t0 = time.perf_counter()
        got = outputs.read_table(home, "betas", run_id)
        rows.append(("read_table betas", got.height, time.perf_counter() - t0))
        t0 = time.perf_counter()
        catalog.query(home, "select 1")
        rows.append(("first query (builds catalog)", 0, time.perf_counter() - t0))
        t0 = time.perf_counter()
        avg = catalog.query(home, "select model, avg(beta) from betas group by model")
        rows.append(("query avg(beta) by model", avg.height, time.perf_counter() - t0))
        t0 = time.perf_counter()
        catalog.query(
            home,
            "select model, 1 - sum((ret - ret_hat_total)^2) / sum(ret^2) from fitted group by 1",
        )
        rows.append(("query pooled R2 from fitted", n_fitted, time.perf_counter() - t0))
        print(
            f"outputs benchmark: {N_WINDOWS} windows x {len(MODELS)} models x {n_tickers} "
            f"tickers x {n_dates} dates, K={N_FACTORS}; betas {n_betas:,} rows, fitted "
            f"{n_fitted:,} rows; on disk {_size(published) / 1e6:.1f} MB (zstd)"
        )
        print(f"{'step':<30} {'rows':>12} {'seconds':>8}")
        for step, n, seconds in rows:
            print(f"{step:<30} {n:>12,} {seconds:>8.2f}")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*(args or [500, 21]))
