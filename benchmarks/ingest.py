"""Ingest throughput: 5 million synthetic rows from Parquet, first load then no-op re-ingest.

Each phase runs in its own process so its peak memory (max RSS) is its own.
Usage: python benchmarks/ingest.py [--rows 5000000] [--tickers 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

# Targets from issue 2: a first load of at least 1M rows/s, a no-op re-ingest at least as fast.
TARGET_ROWS_PER_SECOND = 1_000_000


def make_prices(n_rows: int, n_tickers: int, seed: int = 0) -> pl.DataFrame:
    """Return a random-walk OHLCV panel of about `n_rows` rows (tickers x business days)."""
    rng = np.random.default_rng(seed)
    n_dates = n_rows // n_tickers
    dates = pl.date_range(dt.date(1990, 1, 1), dt.date(2099, 1, 1), "1d", eager=True)
    dates = dates.filter(dates.dt.weekday() <= 5).head(n_dates)
    log_ret = rng.normal(0.0, 0.02, size=(n_tickers, n_dates))
    close = 50.0 * np.exp(np.cumsum(log_ret, axis=1))  # (N, T)
    open_ = close * np.exp(rng.normal(0.0, 0.005, size=close.shape))
    spread = np.abs(rng.normal(0.0, 0.01, size=close.shape))
    high = np.maximum(open_, close) * (1 + spread)
    low = np.minimum(open_, close) * (1 - spread)
    tickers = np.array([f"T{i:05d}" for i in range(n_tickers)])
    return pl.DataFrame(
        {
            "ticker": np.repeat(tickers, n_dates),
            "date": pl.concat([dates] * n_tickers),
            "open": open_.ravel(),
            "high": high.ravel(),
            "low": low.ravel(),
            "close": close.ravel(),
            "volume": rng.integers(0, 10_000_000, size=close.size).astype(np.float64),
        }
    )


def run_phase(home: str, path: str) -> None:
    """Ingest `path` into the warehouse in `home`; print one JSON line with timings."""
    from cae import warehouse
    from cae.warehouse import ingest

    con = warehouse.connect(home)
    start, cpu_start = time.perf_counter(), os.times()
    (report,) = ingest.ingest_source(con, path)
    seconds, cpu_end = time.perf_counter() - start, os.times()
    # CPU time of all threads: less sensitive than wall time to other work on a shared machine.
    cpu_seconds = cpu_end.user + cpu_end.system - cpu_start.user - cpu_start.system
    con.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_mb = usage.ru_maxrss / 1024
    result = {
        "rows_in": report.rows_in,
        "rows_new": report.rows_new,
        "rows_changed": report.rows_changed,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_mb": peak_mb,
    }
    print(json.dumps(result))


def _phase(home: Path, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", str(home), str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--tickers", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3, help="fresh warehouses to measure")
    parser.add_argument("--phase", nargs=2, metavar=("HOME", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        run_phase(*args.phase)
        return
    results = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prices.parquet"
        make_prices(args.rows, args.tickers).write_parquet(path)
        size_mb = path.stat().st_size / 1e6
        for run in range(args.repeat):
            home = Path(tmp) / f"home{run}"
            results.append(("first load", run, _phase(home, path)))
            results.append(("re-ingest (no-op)", run, _phase(home, path)))
    print(f"ingest benchmark: {results[0][2]['rows_in']:,} rows, Parquet {size_mb:.0f} MB")
    header = ("phase", "run", "rows new", "changed", "seconds", "rows/s", "cpu s", "peak MB")
    print("{:<18} {:>3} {:>10} {:>8} {:>8} {:>10} {:>6} {:>8}".format(*header))
    for phase, run, r in results:
        rate = r["rows_in"] / r["seconds"]
        print(
            f"{phase:<18} {run:>3} {r['rows_new']:>10,} {r['rows_changed']:>8,} "
            f"{r['seconds']:>8.2f} {rate:>10,.0f} {r['cpu_seconds']:>6.2f} {r['peak_mb']:>8.0f}"
        )
    for phase in ("first load", "re-ingest (no-op)"):
        rates = sorted(r["rows_in"] / r["seconds"] for p, _, r in results if p == phase)
        print(f"{phase}: median {rates[len(rates) // 2]:,.0f} rows/s (best {rates[-1]:,.0f})")
    print(f"target: >= {TARGET_ROWS_PER_SECOND:,} rows/s for both phases")
    load = f"{load_before:.1f}/{os.getloadavg()[0]:.1f}"
    print(f"1-min load average before/after: {load}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
