"""What a run was computed from: the code version and the warehouse data version.

Both are stored in `runs` and meant as cache keys: the same code on the same data gives the same
versions, and any commit or ingest batch changes them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import duckdb

from cae import warehouse

__all__ = ["code_version", "data_version"]

_GIT_TIMEOUT_S = 5  # a git call that takes longer is a broken checkout; fall back to the version


def code_version() -> str:
    """Return the package version plus the git commit when run from a checkout (`0.1.0+g1a2b3c4`).

    A checkout with uncommitted changes gets `.dirty`, so a result can always be traced to code.
    """
    from cae import __version__

    repo = Path(__file__).resolve().parent.parent
    if not (repo / "pyproject.toml").is_file():  # an installed wheel: no checkout to ask
        return __version__
    try:
        commit = _git(repo, "rev-parse", "--short", "HEAD")
        dirty = _git(repo, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{commit}" + (".dirty" if dirty else "")


def data_version(con: duckdb.DuckDBPyConnection) -> str:
    """Return the warehouse's ingest state as `batch-<max batch_id>-n<count>-<md5 prefix>`.

    Any new, re-run or changed ingest batch changes it, so caches keyed on it expire exactly when
    the data does.
    """
    n_batches, max_batch_id, batches_md5 = warehouse.run_sql(con, "data_version").fetchone()
    return f"batch-{max_batch_id}-n{n_batches}-{batches_md5[:12]}"


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=_GIT_TIMEOUT_S,
        check=True,
    )
    return done.stdout.strip()
