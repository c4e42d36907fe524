"""The daily job's data layer: a full daily build and one daily update, as a user runs them.

A synthetic market of `--tickers` tickers (`cae.datasets.synth`) is loaded into a fresh home
with `--years` years of history (one home per value), less its last two sessions. Then, each as
its own `cae` process (process start included, peak memory of that process):
- full build: `cae build-panel --freq daily --full` over all the prices (and the first publish
  of the prices and the panel for readers);
- daily update: `cae ingest DAY.csv` then `cae build-panel --freq daily` (the new session's
  rows, corporate actions from that day, the incremental panel, and publishing what changed),
  first for the day after the full build, then for the next day (the steady state of a daily
  schedule: DuckDB's first write after a full build also compacts what that build left);
and, in a child process of its own, the reference: a plain pandas groupby-rolling computation of
the same characteristics (`benchmarks/features.py`) over the same daily base, already in memory.
Prints a markdown table with the command line and the machine.

    PYTHONPATH=. python benchmarks/daily.py [--tickers 3000] [--years 2 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

SESSIONS_PER_YEAR = 252


def _cae(home: Path, *args: str) -> dict:
    """Run one `cae` command in a process of its own; return its wall seconds and peak MB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "cae", *args, "--home", str(home)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"cae {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    # ru_maxrss of children is the largest of all children so far: each command runs in a
    # fresh `_child("measure")` process so the figure is this command's own.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"seconds": seconds, "peak_mb": max(peak, before) / 1024, "stdout": done.stdout}


def phase_setup(home: Path, tickers: int, years: int, seed: int) -> dict:
    from cae import warehouse
    from cae.datasets.synth import SynthConfig, generate_market, write_market

    days = years * SESSIONS_PER_YEAR
    prices, meta = generate_market(SynthConfig(n_tickers=tickers, n_days=days + 2, seed=seed))
    first_new, last = prices["date"].unique().sort()[-2:]
    with warehouse.connect(home) as con:
        write_market(con, prices.filter(pl.col("date") < first_new), meta)
    for name, day in (("day_1.csv", first_new), ("day_2.csv", last)):
        prices.filter(pl.col("date") == day).write_csv(home / name)
    return {"rows": prices.filter(pl.col("date") < first_new).height}


def phase_measure(home: Path, *args: str) -> dict:
    return _cae(home, *args)


def phase_daily_base(home: Path) -> dict:
    """Write the daily base the pandas reference starts from (not timed)."""
    from cae import warehouse
    from cae.panel.features import lookback_sessions
    from cae.warehouse import query_frame

    with warehouse.connect(home, read_only=True) as con:
        first = con.sql("select min(date) from prices").fetchall()[0][0]
        params = {"from_date": first, "lookback": lookback_sessions()}
        base = query_frame(con, "daily_base", {**params, "ticker_from": "", "ticker_to": None})
        base = base.join(query_frame(con, "market_returns"), on="date", how="left")
    base.sort("ticker", "date").write_parquet(home / "daily_base.parquet")
    return {"rows": base.height}


def phase_pandas(home: Path) -> dict:
    import pandas as pd

    from benchmarks.features import pandas_characteristics

    frame = pd.read_parquet(home / "daily_base.parquet")
    start = time.perf_counter()
    out = pandas_characteristics(frame)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": len(out), "seconds": seconds, "peak_mb": peak}


def _child(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--phase", *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_home(tickers: int, years: int, seed: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        setup = _child("setup", str(home), str(tickers), str(years), str(seed))
        label = f"{years} y ({setup['rows']:,} rows)"
        full = _child("measure", str(home), "build-panel", "--freq", "daily", "--full")
        rows.append({"history": label, "step": "full daily build", **full})
        for day, kind in (("day_1.csv", "first after the full build"), ("day_2.csv", "next")):
            ingest = _child("measure", str(home), "ingest", str(home / day))
            build = _child("measure", str(home), "build-panel", "--freq", "daily")
            rows.append({"history": label, "step": "  ingest one day", **ingest})
            rows.append({"history": label, "step": "  incremental daily panel", **build})
            rows.append(
                {
                    "history": label,
                    "step": f"daily update ({kind})",
                    "seconds": ingest["seconds"] + build["seconds"],
                    "peak_mb": max(ingest["peak_mb"], build["peak_mb"]),
                }
            )
        _child("daily_base", str(home))
        pandas = _child("pandas", str(home))
        rows.append({"history": label, "step": "pandas groupby-rolling (reference)", **pandas})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=3000)
    parser.add_argument("--years", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--seed", type=int, default=1)
    if sys.argv[1:2] == ["--phase"]:  # a child: --phase NAME HOME [ARGS...]
        name, home, *rest = sys.argv[2:]
        if name == "setup":
            result = phase_setup(Path(home), int(rest[0]), int(rest[1]), int(rest[2]))
        elif name == "measure":
            result = phase_measure(Path(home), *rest)
        else:
            result = {"daily_base": phase_daily_base, "pandas": phase_pandas}[name](Path(home))
        print(json.dumps(result, default=str))
        return

    args = parser.parse_args()
    rows = [row for years in args.years for row in measure_home(args.tickers, years, args.seed)]
    print(f"command: python benchmarks/daily.py {' '.join(sys.argv[1:])}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print("| history | step | wall (s) | peak memory (MB) | pandas / ours |")
    print("|---|---|---:|---:|---:|")
    for years in args.years:
        group = [r for r in rows if r["history"].startswith(f"{years} y")]
        reference = group[-1]["seconds"]
        for r in group:
            ratio = f"{reference / r['seconds']:.1f}x" if r["step"] == "full daily build" else ""
            print(
                f"| {r['history']} | {r['step']} | {r['seconds']:.2f} | {r['peak_mb']:,.0f} "
                f"| {ratio} |"
            )


if __name__ == "__main__":
    main()
