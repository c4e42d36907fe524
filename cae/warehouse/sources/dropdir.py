"""A landing folder: each new or changed price file in it is ingested once.

Writers are expected to write under a temporary name (`.tmp`, `.part`) and rename when done; a
file still being written under its final name is recognised by a recent modification time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from cae.warehouse.sources.files import file_sha256, is_price_file

__all__ = ["MIN_AGE_SECONDS", "PARTIAL_SUFFIXES", "pending_files"]

# A file modified less than this long ago may still be growing; it waits for the next pass.
MIN_AGE_SECONDS = 2.0
# Names writers use while a file is incomplete.
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")


def _is_candidate(path: Path) -> bool:
    name = path.name.lower()
    if name.startswith(".") or name.endswith(PARTIAL_SUFFIXES):
        return False
    return is_price_file(path)


def pending_files(
    folder: Path, seen: set[str], *, min_age_seconds: float = MIN_AGE_SECONDS
) -> Iterator[tuple[Path, str]]:
    """Yield (path, sha256) of settled price files in `folder` whose hash is not in `seen`.

    Files are visited in name order; sub-folders are not searched. A file modified within the
    last `min_age_seconds`, or named like a partial download, is skipped this time.
    """
    now = time.time()
    for path in sorted(folder.iterdir()):
        if not _is_candidate(path):
            continue
        if now - path.stat().st_mtime < min_age_seconds:
            continue
        sha256 = file_sha256(path)
        if sha256 not in seen:
            yield path, sha256
