"""Benchmark: the full daily characteristic set on a synthetic market, ours vs pandas.

    python benchmarks/features.py --tickers 3000 --days 2520

Each measurement runs in its own child process so its peak memory (ru_maxrss) is its own.
"ours (build_panel)" is the whole warehouse path: SQL daily base, every characteristic,
universe flags, validation and the insert into `characteristics_daily`. "ours (compute)" and
"pandas groupby-rolling" start from the same daily base frame (Parquet) and compute the same
characteristics; the pandas version is what a research notebook does, one groupby-rolling per
statistic. Both read contiguous columns and import their libraries before the timing. "ours
(compute)" is timed on its first call in the process and again on a second call; numba's
one-time start (its first compiled call) is timed in a child of its own. Prints a markdown
table with wall, CPU and system time (mostly page faults) and peak memory.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from cae import warehouse
from cae.datasets.synth import SynthConfig, generate_market, write_market
from cae.panel import build_panel
from cae.panel.features import compute_daily, lookback_sessions, names
from cae.warehouse import query_frame
from cae.warehouse.actions import detect_actions


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _cpu_seconds() -> tuple[float, float]:
    # User and system time of all this process's threads: less sensitive than wall time to
    # other processes sharing the two cores. System time is mostly page faults: on this VM,
    # memory no process has touched lately is slow to fault in (docs/benchmarks.md).
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def _since(wall: float, cpu: tuple[float, float]) -> dict:
    user, system = _cpu_seconds()
    return {
        "seconds": time.perf_counter() - wall,
        "cpu": user - cpu[0] + system - cpu[1],
        "system": system - cpu[1],
    }


def phase_generate(home: Path, tickers: int, days: int, seed: int) -> dict:
    start = time.perf_counter()
    prices, meta = generate_market(SynthConfig(n_tickers=tickers, n_days=days, seed=seed))
    con = warehouse.connect(home)
    write_market(con, prices, meta)
    actions = detect_actions(con)
    params = {"from_date": prices["date"].min(), "lookback": lookback_sessions()}
    base = query_frame(con, "daily_base", {**params, "ticker_from": "", "ticker_to": None})
    base = base.join(query_frame(con, "market_returns"), on="date", how="left")
    base.sort("ticker", "date").write_parquet(home / "daily_base.parquet")
    return {
        "rows": prices.height,
        "seconds": time.perf_counter() - start,
        "splits_detected": actions.height,
    }


def phase_ours(home: Path) -> dict:
    con = warehouse.connect(home)
    start, cpu = time.perf_counter(), _cpu_seconds()
    report = build_panel(con, "daily", full=True)
    return {"rows": report.n_rows, **_since(start, cpu)}


def phase_breakdown(home: Path) -> dict:
    """Time the steps of one full build by wrapping the functions `build_panel` calls."""
    from cae import panel
    from cae.panel import store as panel_store

    seconds: dict[str, float] = {}

    def timed(label, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[label] = seconds.get(label, 0.0) + time.perf_counter() - start

        return wrapper

    def timed_sql(con, name, freq, params=None, run=panel_store.execute):
        return timed(f"SQL {name}", run)(con, name, freq, params)

    panel.query_frame = timed("SQL daily_base + market_returns (read into Polars)", query_frame)
    panel.features.compute_daily = timed("compute_daily (per chunk)", compute_daily)
    panel.to_frequency = timed("to_frequency", panel.to_frequency)
    panel.store.validate_panel = timed("pandera validation", panel_store.validate_panel)
    panel.store.execute = timed_sql
    con = warehouse.connect(home)
    start = time.perf_counter()
    build_panel(con, "daily", full=True)
    total = time.perf_counter() - start
    steps = dict(sorted(seconds.items(), key=lambda item: -item[1]))
    # The staging inserts (DuckDB appends from Arrow) and Python glue are the rest.
    steps["other (staging inserts, glue)"] = total - sum(seconds.values())
    return {"total": total, "steps": steps}


def phase_ours_compute(home: Path) -> dict:
    # numba imports its array-math module, and with it scipy.linalg (0.25 s), on its first
    # compiled call: imports are outside the timing, as pandas' import is for the pandas version.
    import numba.np.arraymath  # noqa: F401

    # Contiguous columns, as pandas' read_parquet gives the pandas version (outside the timing).
    base = pl.read_parquet(home / "daily_base.parquet").rechunk()
    start, cpu = time.perf_counter(), _cpu_seconds()
    out = compute_daily(base)
    first = _since(start, cpu)
    out.select(names()).write_parquet(home / "ours.parquet")
    del out
    # The first call also starts numba's compiler (the rest of phase_numba_start) and loads the
    # kernel from its cache; a second call on the same frame shows the steady state (a build
    # calls it per chunk).
    start, cpu = time.perf_counter(), _cpu_seconds()
    compute_daily(base)
    return {"rows": base.height, **first, "second": _since(start, cpu)}


def phase_numba_start(home: Path) -> dict:
    """Time numba's one-time start in a process: its first call of any compiled function.

    Most of it is importing numba's array-math module and scipy.linalg; the compute phase
    imports those before its timing.
    """
    from cae.panel.features.kernel import _empty_columns

    start, cpu = time.perf_counter(), _cpu_seconds()
    _empty_columns(1, 1)
    return {"rows": 0, **_since(start, cpu)}


def pandas_characteristics(df):
    """Compute the daily characteristics as a research notebook does: groupby-rolling."""
    import pandas as pd

    df = df.sort_values(["ticker", "date"]).reset_index(drop=True)
    by = df.groupby("ticker", sort=False)

    def roll(column, window, stat, min_periods=None):
        rolled = by[column].rolling(window, min_periods=min_periods or window)
        return getattr(rolled, stat)().reset_index(level=0, drop=True)

    def compound(window, skip=0):
        total = roll("log_growth", window, "sum")
        if skip:
            total = total.groupby(df["ticker"], sort=False).shift(skip)
        return np.expm1(total)

    df["log_growth"] = np.log1p(df["ret"])
    out = pd.DataFrame(index=df.index)
    out["mom1m"] = compound(21)
    out["mom6m"] = compound(105, 21)
    out["mom12m"] = compound(231, 21)
    out["mom36m"] = compound(504, 252)
    recent = compound(126)
    out["chmom"] = recent - recent.groupby(df["ticker"], sort=False).shift(126)
    out["strev"] = compound(5)
    out["maxret"] = roll("ret", 21, "max")
    out["retvol"] = roll("ret", 21, "std")
    both = df["ret"].notna() & df["mkt_ret"].notna()
    df["x"] = df["mkt_ret"].where(both)
    df["y"] = df["ret"].where(both)
    df["xx"], df["xy"], df["yy"] = df["x"] ** 2, df["x"] * df["y"], df["y"] ** 2
    df["one"] = np.where(both, 1.0, np.nan)
    s = {c: roll(c, 252, "sum", 126) for c in ("one", "x", "y", "xx", "xy", "yy")}
    sxx = s["xx"] - s["x"] ** 2 / s["one"]
    sxy = s["xy"] - s["x"] * s["y"] / s["one"]
    syy = s["yy"] - s["y"] ** 2 / s["one"]
    out["beta"] = (sxy / sxx).where(sxx > 0)
    out["betasq"] = out["beta"] ** 2
    ssr = (syy - sxy**2 / sxx).clip(lower=0)
    out["idiovol"] = np.sqrt(ssr / (s["one"] - 2)).where((sxx > 0) & (s["one"] > 2))
    mean_dv = roll("dollar_volume", 21, "mean")
    out["dolvol"] = np.log(mean_dv.where(mean_dv > 0))
    out["std_dolvol"] = roll("dollar_volume", 21, "std")
    df["amihud"] = (df["ret"].abs() / df["dollar_volume"]).where(df["dollar_volume"] > 0)
    out["ill"] = roll("amihud", 21, "mean", 15)
    df["is_zero"] = (df["volume"] == 0).astype(float)
    out["zerotrade"] = roll("is_zero", 21, "sum")
    base_volume = roll("adj_volume", 126, "mean")
    out["turn"] = (roll("adj_volume", 21, "mean") / base_volume).where(base_volume > 0)
    out["std_turn"] = (roll("adj_volume", 21, "std") / base_volume).where(base_volume > 0)
    prev_high = by["adj_high"].shift(1)
    prev_low = by["adj_low"].shift(1)
    k = 3 - 2 * math.sqrt(2)
    b = np.log(df["adj_high"] / df["adj_low"]) ** 2 + np.log(prev_high / prev_low) ** 2
    g = np.log(np.maximum(df["adj_high"], prev_high) / np.minimum(df["adj_low"], prev_low)) ** 2
    a = (np.sqrt(2 * b) - np.sqrt(b)) / k - np.sqrt(g / k)
    df["cs"] = (2 * np.expm1(a) / (1 + np.exp(a))).clip(lower=0)
    out["baspread"] = roll("cs", 21, "mean")
    mean_volume = roll("adj_volume", 252, "mean", 126)
    size = df["adj_close"] * mean_volume
    out["mvel1"] = np.log(size.where(size > 0))
    out["indmom"] = out["mom6m"].groupby([df["date"], df["sector"]]).transform("mean")
    return out


def phase_pandas(home: Path) -> dict:
    import pandas as pd

    df = pd.read_parquet(home / "daily_base.parquet")
    start, cpu = time.perf_counter(), _cpu_seconds()
    out = pandas_characteristics(df)
    timing = _since(start, cpu)
    ours = pl.read_parquet(home / "ours.parquet").to_pandas()
    worst = 0.0
    for name in names():
        a, b = ours[name].to_numpy(float), out[name].to_numpy(float)
        both = np.isfinite(a) & np.isfinite(b)
        if np.isfinite(a).sum() != both.sum() or np.isfinite(b).sum() != both.sum():
            raise AssertionError(f"{name}: pandas and ours disagree on which cells are missing")
        if both.any():
            # Differences in units of the characteristic's own cross-sectional spread.
            scale = float(np.std(b[both])) or 1.0
            worst = max(worst, float(np.max(np.abs(a[both] - b[both]))) / scale)
    return {"rows": len(out), **timing, "max_rel_diff": worst}


PHASES = {
    "ours": phase_ours,
    "ours_compute": phase_ours_compute,
    "pandas": phase_pandas,
    "breakdown": phase_breakdown,
    "numba_start": phase_numba_start,
}


def _child(phase: str, home: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--home", str(home)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=3000)
    parser.add_argument("--days", type=int, default=2520)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument(
        "--breakdown", action="store_true", help="also time the steps of build_panel (one more run)"
    )
    parser.add_argument("--phase", choices=["generate", *PHASES], help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "generate":
        result = phase_generate(args.home, args.tickers, args.days, args.seed)
    elif args.phase:
        result = PHASES[args.phase](args.home)
    if args.phase:
        result["peak_mb"] = _peak_mb()
        print(json.dumps(result))
        return

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        gen = subprocess.run(
            [
                *(sys.executable, __file__, "--phase", "generate", "--home", tmp),
                *("--tickers", str(args.tickers), "--days", str(args.days)),
                *("--seed", str(args.seed)),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        generated = json.loads(gen.stdout.strip().splitlines()[-1])
        results = {"ours (build_panel, end to end)": _child("ours", home)}
        results["ours (compute only)"] = _child("ours_compute", home)
        results["ours (compute only, second call)"] = {
            **results["ours (compute only)"],
            **results["ours (compute only)"]["second"],
        }
        if not args.skip_pandas:
            results["pandas groupby-rolling"] = _child("pandas", home)
        breakdown = _child("breakdown", home) if args.breakdown else None
        numba_start = _child("numba_start", home)

    print(
        f"synthetic market: {args.tickers} tickers x {args.days} days = {generated['rows']:,} "
        f"rows; {generated['splits_detected']} splits detected; {len(names())} characteristics"
    )
    load_after = os.getloadavg()
    print(
        f"load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; "
        f"after: {', '.join(f'{x:.2f}' for x in load_after)} (2 cores)"
    )
    reference = results.get("pandas groupby-rolling")
    print(
        "| method | rows | wall time (s) | CPU time (s) | of which system (s) | rows/s "
        "| peak memory (MB) | pandas wall / ours | pandas CPU / ours |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for method, r in results.items():
        wall = f"{reference['seconds'] / r['seconds']:.1f}x" if reference else "-"
        cpu = f"{reference['cpu'] / r['cpu']:.1f}x" if reference else "-"
        print(
            f"| {method} | {r['rows']:,} | {r['seconds']:.2f} | {r['cpu']:.2f} "
            f"| {r['system']:.2f} | {r['rows'] / r['seconds']:,.0f} | {r['peak_mb']:,.0f} "
            f"| {wall} | {cpu} |"
        )
    print(
        f"numba's one-time start in a process (its first compiled call, imports included; the "
        f"first compute call includes it less the imports): {numba_start['seconds']:.2f} s"
    )
    if "pandas groupby-rolling" in results:
        diff = results["pandas groupby-rolling"]["max_rel_diff"]
        print(f"same missing cells; max |ours - pandas| over all cells: {diff:.1e} std devs")
    if breakdown:
        print(f"\nbuild_panel steps (a separate run, {breakdown['total']:.1f} s in total):\n")
        print("| step | wall time (s) |")
        print("|---|---:|")
        for step, step_seconds in breakdown["steps"].items():
            print(f"| {step} | {step_seconds:.1f} |")


if __name__ == "__main__":
    main()
