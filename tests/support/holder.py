"""Another process holding a warehouse file read-write, as a running `cae ingest` does.

DuckDB shares an open file between connections of one process instead of locking it, so a
lock can only be tested against a second process.
"""

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(60)
"""


@contextmanager
def warehouse_held(path: Path) -> Iterator[None]:
    """Hold the DuckDB file at `path` from another process for the block."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        yield
    finally:
        holder.kill()
        holder.wait()
