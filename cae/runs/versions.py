"""What a run was computed from: the code version and the warehouse data version.

Both are stored in `runs` and meant as cache keys: the same code on the same data gives the same
versions, and any commit or ingest batch changes them.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path

from cae import warehouse

__all__ = ["code_version", "data_version", "fit_code_version"]

# Defined with the warehouse it describes (panel builds read it too); runs record it.
data_version = warehouse.data_version

_GIT_TIMEOUT_S = 5  # a git call that takes longer is a broken checkout; fall back to the version

# The modules whose code decides a window's fitted numbers (the window cache's key includes them).
_FIT_CODE = (
    "models",
    "evaluation",
    "panel/tensors.py",
)


def code_version() -> str:
    """Return the package version plus the git commit when run from a checkout (`0.1.0+g1a2b3c4`).

    A checkout with uncommitted changes gets `.dirty`, so a result can always be traced to code.
    """
    from cae import __version__

    repo = Path(__file__).resolve().parents[2]
    if not (repo / "pyproject.toml").is_file():  # an installed wheel: no checkout to ask
        return __version__
    try:
        commit = _git(repo, "rev-parse", "--short", "HEAD")
        dirty = _git(repo, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{commit}" + (".dirty" if dirty else "")


@functools.cache
def fit_code_version() -> str:
    """Return a hash of the source of the modules that fit and score a window.

    Cached window results are only reused by the same fitting code: an upgrade that changes a
    model (or a commit in a checkout) refits, one that changes only the CLI or the docs does not.
    Works the same in a checkout and in an installed wheel.
    """
    package = Path(__file__).resolve().parents[1]  # cae/
    digest = hashlib.sha256()
    for name in _FIT_CODE:
        path = package / name
        for source in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(source.relative_to(package).as_posix().encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=_GIT_TIMEOUT_S,
        check=True,
    )
    return done.stdout.strip()
