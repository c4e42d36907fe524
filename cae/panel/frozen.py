"""The frozen panel a run trains on: one Parquet file per data version, made from the last one.

Why: a daily run freezes the panel at each new data version, and reading, ranking and
validating a 10-year daily panel takes seconds that grow with history. Ranks are taken per date
(`normalise_ranks`), so a date's frozen rows depend only on that date's stored rows. Each
frozen file carries a fingerprint of the stored rows of every date (in its Parquet metadata);
the next freeze keeps the previous file's rows up to the first date whose fingerprint changed
(an incremental build rewrites the last dates only) and reads the panel from there on.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

from cae.panel import store
from cae.panel.build import read_panel

__all__ = ["FINGERPRINTS_KEY", "freeze_panel"]

FINGERPRINTS_KEY = b"cae.date_fingerprints"  # Parquet metadata: {"names": [...], "dates": {...}}


def freeze_panel(
    con: duckdb.DuckDBPyConnection,
    key: str,
    target: Path,
    previous: Path | None,
    scratch: Path,
) -> int:
    """Write the normalised panel `key` to `target`; return the rows read from the warehouse.

    Written to `scratch` first, then renamed. Rows of `previous` (an older frozen file) are
    reused up to the first date whose stored rows changed since it was frozen.
    """
    stamp = {
        "names": store.characteristic_names(con, key),
        "dates": {
            str(date): fingerprint
            for date, fingerprint in store.query(
                con, "characteristics#date_fingerprints", key
            ).iter_rows()
        },
    }
    since = _first_changed(previous, stamp)
    if since is None:
        frame = read_panel(con, key)
        fresh = frame.height
    else:
        kept = pl.read_parquet(previous).filter(pl.col("date") < since)
        recent = read_panel(con, key, start=since)
        frame, fresh = pl.concat([kept, recent]), recent.height
    table = frame.to_arrow()
    metadata = {**(table.schema.metadata or {}), FINGERPRINTS_KEY: json.dumps(stamp).encode()}
    pq.write_table(table.replace_schema_metadata(metadata), scratch, compression="zstd")
    os.replace(scratch, target)
    return fresh


def _first_changed(previous: Path | None, stamp: dict) -> dt.date | None:
    """Return the first date to re-read after `previous`, or None to read everything."""
    if previous is None or not previous.is_file():
        return None
    metadata = pq.read_schema(previous).metadata or {}
    if FINGERPRINTS_KEY not in metadata:
        return None  # frozen before fingerprints
    before = json.loads(metadata[FINGERPRINTS_KEY])
    if before["names"] != stamp["names"]:
        return None
    dates = sorted(set(before["dates"]) | set(stamp["dates"]))
    changed = [d for d in dates if before["dates"].get(d) != stamp["dates"].get(d)]
    if not dates:
        return None
    return dt.date.fromisoformat(changed[0] if changed else dates[-1])
