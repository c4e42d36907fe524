"""Benchmark: the cost of writing fresh memory here, by allocator (why the kernel allocates).

    python benchmarks/fresh_memory.py [--repeat 3 --pause 4]

Each measurement is a child process that waits `--pause` seconds (so memory freed by earlier
processes has gone back to the host, as on a VM with free page reporting), allocates 18 arrays
of 6,766,758 float64 (the 18 kernel outputs of `benchmarks/features.py`, 970 MB) and writes
them once. "warm" allocates, frees, then allocates and writes again at once. Prints a markdown
table of wall and system time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

N_ROWS, N_COLUMNS = 6_766_758, 18
MODES = ("numpy", "numba", "numpy_no_huge_pages", "warm")


def _measure(mode: str, pause: float) -> dict:
    from cae.panel.features.kernel import _empty_columns

    _empty_columns(1, 1)  # numba's start, outside the timing
    if mode == "warm":
        _fill(np.empty, N_ROWS)  # written, then freed on return
    time.sleep(pause if mode != "warm" else 0)
    system = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    start = time.perf_counter()
    allocate = (lambda n: _empty_columns(n, 1)[0]) if mode == "numba" else np.empty
    _fill(allocate, N_ROWS)
    return {
        "seconds": time.perf_counter() - start,
        "system": resource.getrusage(resource.RUSAGE_SELF).ru_stime - system,
    }


def _fill(allocate, n_rows: int) -> list[np.ndarray]:
    columns = [allocate(n_rows) for _ in range(N_COLUMNS)]
    for column in columns:
        column.fill(1.0)
    return columns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pause", type=float, default=4.0)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(_measure(args.mode, args.pause)))
        return
    rows = {mode: [] for mode in MODES}
    for _ in range(args.repeat):
        for mode in MODES:
            env = dict(os.environ)
            if mode == "numpy_no_huge_pages":
                env["NUMPY_MADVISE_HUGEPAGE"] = "0"  # read when numpy is imported
            command = [sys.executable, __file__, "--mode", mode, "--pause", str(args.pause)]
            done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
            rows[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{N_COLUMNS} arrays x {N_ROWS:,} float64 ({N_COLUMNS * N_ROWS * 8 / 1e6:,.0f} MB)")
    print("| allocation | wall time (s) | system time (s) |")
    print("|---|---:|---:|")
    for mode, runs in rows.items():
        wall = [r["seconds"] for r in runs]
        system = [r["system"] for r in runs]
        print(f"| {mode} | {min(wall):.2f}-{max(wall):.2f} | {min(system):.2f}-{max(system):.2f} |")


if __name__ == "__main__":
    main()
