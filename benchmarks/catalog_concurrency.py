"""Measure what an analyst's queries do to a writing run, per way of reading the warehouse.

Runs tests/support/concurrency_roles.py as two processes (one writer like the daily flow, one reader
querying outputs joined with warehouse tables) for SECONDS each, for three setups: the writer
alone, a reader on the warehouse's published version (cae's default), and a reader attaching
the live warehouse read-only. Prints one row per setup.

Usage: python benchmarks/catalog_concurrency.py [SECONDS]
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from cae import warehouse
from cae.warehouse import published

ROLES = Path(__file__).resolve().parent.parent / "tests" / "support" / "concurrency_roles.py"


def _run(seconds: float, reader_mode: str | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        with warehouse.connect(home) as con:
            published.publish(con, home)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), str(ROLES.parent)])}
        roles = {"writer": ""} | ({"reader": reader_mode} if reader_mode else {})
        procs = {
            role: subprocess.Popen(
                [sys.executable, str(ROLES), role, str(home), str(seconds), f"{tmp}/{role}", mode],
                env=env,
            )
            for role, mode in roles.items()
        }
        for proc in procs.values():
            proc.wait(timeout=seconds * 10 + 60)
        return {role: json.loads(Path(f"{tmp}/{role}").read_text()) for role in roles}


def _ms(values: list[float], q: float) -> float:
    return 1000 * statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else 0.0


def main(seconds: float) -> None:
    header = (
        f"{'reader':<10} {'writer it/s':>11} {'w p50 ms':>9} {'w max ms':>9} {'w errors':>9} "
        f"{'queries/s':>10} {'q p50 ms':>9} {'q p95 ms':>9} {'q errors':>9}"
    )
    print(f"catalog concurrency, {seconds:.0f} s per setup, {os.cpu_count()} cores")
    print(header)
    for mode in (None, "published", "live"):
        result = _run(seconds, mode)
        w = result["writer"]
        r = result.get("reader", {"queries": 0, "durations": [], "errors": []})
        print(
            f"{mode or 'none':<10} {w['iterations'] / seconds:>11.1f} "
            f"{_ms(w['durations'], 50):>9.0f} {1000 * max(w['durations']):>9.0f} "
            f"{len(w['errors']):>9} {r['queries'] / seconds:>10.1f} "
            f"{_ms(r['durations'], 50):>9.0f} {_ms(r['durations'], 95):>9.0f} "
            f"{len(r['errors']):>9}"
        )
        for role, report in result.items():
            if report["errors"]:
                print(f"  first {role} error: {report['errors'][0].splitlines()[0][:150]}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0)
