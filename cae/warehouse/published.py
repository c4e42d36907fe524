"""The warehouse as readers see it: its tables as Parquet files, listed by one manifest.

Why: a DuckDB file has one writer and, while it is held, no reader, so readers must never open
`warehouse.duckdb`. After each command that commits, the writer publishes what changed as new,
immutable Parquet files under `<home>/outputs/warehouse/<table>/` and then replaces
`manifest.json` (version, tables, their files and row counts, column types, the warehouse's
views) with one atomic rename. A reader reads the manifest once and queries exactly its files:
it sees the last published version whole, never part of a write, never blocks the writer and
is never blocked. Any engine reads the same files (DuckDB, Polars, Spark, Dask): take the file
list from the manifest, not from a directory glob, since folders also hold files of older
versions for a while.

Cost follows the change: price rows carry the ingest batch that wrote them, so only the months
of batches newer than the manifest's are rewritten; panel writers record the months they
changed in `publish_marks` inside their own transaction (`mark`); small tables are rewritten
when their fingerprint changes. Marks and batches survive a stopped command, so the next
command publishes what it committed. Files no manifest lists are removed `RETAIN_SECONDS` after
they were replaced (a reader holding an older manifest keeps its files that long); files of a
publish that never finished are removed by the next one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

from cae.errors import HomeError
from cae.home import Home, HomeLike
from cae.warehouse.db import home_errors, run_sql

__all__ = [
    "MANIFEST_FORMAT",
    "RETAIN_SECONDS",
    "Manifest",
    "attach",
    "mark",
    "publish",
    "read_manifest",
    "unpublished",
]

MANIFEST_FORMAT = 1
# How long a replaced file stays for readers that read the manifest before it was replaced:
# a query opens its files when it starts, so an hour covers any reader but a stalled one.
RETAIN_SECONDS = 3600
# Tables published one file per month of `date`; rejected_rows one file per 100 batches; every
# other table (a few thousand rows at most) as one file.
PANEL_PREFIX = "characteristics_"
BATCH_BLOCK_TABLE = "rejected_rows"


@dataclasses.dataclass(frozen=True)
class Manifest:
    """One published version of the warehouse (the JSON in `manifest.json`)."""

    version: int
    published_at: str
    last_batch: int
    # table -> {partitioning, columns: [[name, type]], fingerprint, files: {period: {path, rows}}}
    tables: dict[str, dict[str, Any]]
    views: dict[str, str]
    # Files a later version replaced: {path, at (epoch seconds)}; removed after RETAIN_SECONDS.
    retired: list[dict[str, Any]]

    def rows(self, table: str) -> int:
        """Return the row count of a published table (0 when absent)."""
        files = self.tables.get(table, {}).get("files", {})
        return sum(f["rows"] for f in files.values())

    def files(self, table: str) -> list[str]:
        """Return the paths (relative to the published folder) of a table's files."""
        return [f["path"] for f in self.tables[table]["files"].values()]


_EMPTY = Manifest(0, "", 0, {}, {}, [])


def folder(home: HomeLike) -> Path:
    """Return `<home>/outputs/warehouse`, where published tables and their manifest live."""
    return Home.of(home).published


def read_manifest(home: HomeLike) -> Manifest | None:
    """Return the published version, or None when nothing was ever published.

    Raises `HomeError` when the manifest cannot be read (cut short, another format): any
    command that writes the warehouse publishes it whole again.
    """
    path = folder(home) / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.pop("format", None) != MANIFEST_FORMAT:
            raise ValueError(f"format is not {MANIFEST_FORMAT}")
        return Manifest(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as error:
        raise HomeError(
            f"the published warehouse {path} is unreadable ({error}): run any command that "
            "writes the warehouse (e.g. `cae ingest` with no new file) to publish it again"
        ) from None


def mark(con: duckdb.DuckDBPyConnection, table: str, since: dt.date | None = None) -> None:
    """Record, inside the writer's transaction, that `table` changed from `since`'s month on.

    `since` None: the whole table. Only panel tables need marks; publishing finds the rest.
    """
    first = None if since is None else since.strftime("%Y-%m")
    run_sql(con, "published#mark", {"table": table, "first_period": first})


def publish(con: duckdb.DuckDBPyConnection, home: HomeLike) -> Manifest:
    """Publish what the warehouse committed since the last version; return the version readers see.

    Call between transactions. Nothing changed: no new version. The new files are written first,
    then the manifest is swapped in; a failure before the swap leaves readers on the previous
    version and the marks in place, so the next publish redoes it.
    """
    home = Home.of(home)
    base = folder(home)
    with home_errors(), con.cursor() as cur:
        base.mkdir(parents=True, exist_ok=True)
        current = _current(home)
        last_batch = int(run_sql(cur, "published#last_batch").fetchall()[0][0])
        if last_batch < current.last_batch:  # another warehouse since (replaced, restored)
            current = dataclasses.replace(current, tables={}, last_batch=0)
        marks = _marks(cur)
        tables, replaced = {}, []
        for name, names, types in run_sql(cur, "published#tables").fetchall():
            entry = _publish_table(
                cur,
                base,
                name,
                list(zip(names, types, strict=True)),
                current,
                last_batch,
                marks.get(name),
            )
            tables[name] = entry
            old = current.tables.get(name, {}).get("files", {})
            replaced += [f["path"] for p, f in old.items() if entry["files"].get(p) != f]
        replaced += [
            f["path"]
            for t, e in current.tables.items()
            if t not in tables
            for f in e["files"].values()
        ]
        views = dict(run_sql(cur, "published#views").fetchall())
        if tables == current.tables and views == current.views:
            run_sql(cur, "published#marks_clear")
            return current
        now = time.time()
        manifest = Manifest(
            version=current.version + 1,
            published_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            last_batch=last_batch,
            tables=tables,
            views=views,
            retired=[
                *(r for r in current.retired if now - r["at"] < RETAIN_SECONDS),
                *({"path": path, "at": now} for path in replaced),
            ],
        )
        _swap_manifest(home, manifest)
        run_sql(cur, "published#marks_clear")
    try:  # tidying: what is published stays published if it fails
        _remove_unlisted(base, manifest)
        Home.of(home).snapshot.unlink(missing_ok=True)  # the copy readers used before
    except OSError:
        pass
    return manifest


def _current(home: Home) -> Manifest:
    """Return the published version to publish from; empty if none or unreadable."""
    try:
        return read_manifest(home) or _EMPTY
    except HomeError:
        return _EMPTY


def unpublished(con: duckdb.DuckDBPyConnection, manifest: Manifest) -> str | None:
    """Describe the ingest batches and panel changes committed after `manifest` (None: none).

    Small tables changed by a stopped command (`cae actions`) are not seen here; the next
    publish compares their fingerprints.
    """
    with con.cursor() as cur:
        batches = int(run_sql(cur, "published#last_batch").fetchall()[0][0]) - manifest.last_batch
        tables = sorted({table for table, *_ in run_sql(cur, "published#marks").fetchall()})
    parts = [f"{batches} ingest batch(es)"] if batches > 0 else []
    parts += [f"changes to {', '.join(tables)}"] if tables else []
    return " and ".join(parts) or None


def attach(con: duckdb.DuckDBPyConnection, home: HomeLike) -> Manifest | None:
    """Make the published tables and views queryable on `con` as database `warehouse`.

    Returns the version attached, None when the home has published nothing. The database is in
    memory and holds only views over the manifest's files, so it never locks anything.
    """
    manifest = read_manifest(home)
    if manifest is None:
        return None
    base = folder(home)
    con.execute("attach ':memory:' as warehouse")
    for name, entry in manifest.tables.items():
        con.execute(f'create view warehouse.main."{name}" as {_table_select(base, entry)}')
    if manifest.views:
        current = con.sql("select current_database()").fetchall()[0][0]
        con.execute("use warehouse")
        try:
            _create_views(con, list(manifest.views.values()))
        finally:
            con.execute(f'use "{current}"')
    return manifest


def _create_views(con: duckdb.DuckDBPyConnection, pending: list[str]) -> None:
    """Create views in an order where each one's views exist first (the manifest has no order)."""
    while pending:
        failed = []
        for sql in pending:
            try:
                con.execute(sql)
            except duckdb.CatalogException:
                failed.append(sql)
        if len(failed) == len(pending):
            con.execute(failed[0])  # raises: a view over something not published
        pending = failed


def _table_select(base: Path, entry: dict[str, Any]) -> str:
    columns = entry["columns"]
    files = [str(base / f["path"]) for f in entry["files"].values()]
    names = ", ".join(f'"{name}"' for name, _ in columns)
    if not files:
        typed = ", ".join(f'null::{kind} as "{name}"' for name, kind in columns)
        return f"select {typed} where false"
    listed = ", ".join("'" + path.replace("'", "''") + "'" for path in files)
    return f"select {names} from read_parquet([{listed}], hive_partitioning = false)"


def _partitioning(name: str, columns: list[tuple[str, str]]) -> str:
    has_date = any(column == "date" for column, _ in columns)
    if has_date and (name == "prices" or name.startswith(PANEL_PREFIX)):
        return "month"
    if name == BATCH_BLOCK_TABLE:
        return "batches"
    return "whole"


def _publish_table(
    cur: duckdb.DuckDBPyConnection,
    base: Path,
    name: str,
    columns: list[tuple[str, str]],
    current: Manifest,
    last_batch: int,
    marks: list[str | None] | None,
) -> dict[str, Any]:
    """Return the table's manifest entry, writing the files of what changed."""
    kind = _partitioning(name, columns)
    old = current.tables.get(name)
    entry = {"partitioning": kind, "columns": [list(c) for c in columns], "fingerprint": None}
    if old is None or old["columns"] != entry["columns"] or old["partitioning"] != kind:
        old, periods = None, None  # new or reshaped: all of it
    elif kind == "whole":
        fingerprint = run_sql(cur, "published#fingerprint", {"table": name}).fetchall()[0][0]
        entry["fingerprint"] = fingerprint
        if fingerprint == old["fingerprint"]:
            return {**entry, "files": old["files"]}
        periods = None
    elif kind == "batches":
        after = {"after_batch": current.last_batch}
        periods = _periods(run_sql(cur, "published#batch_blocks_since", after))
    elif name == "prices":
        after = {"after_batch": current.last_batch}
        periods = _periods(run_sql(cur, "published#price_months_since", after))
    else:
        periods = _marked_months(cur, name, marks or [], old["files"])
    if periods is not None and not periods:
        return {**entry, "fingerprint": entry["fingerprint"], "files": old["files"]}
    files = (
        {}
        if old is None or periods is None
        else {p: f for p, f in old["files"].items() if p not in set(periods)}
    )
    files.update(_write(cur, base, name, kind, periods))
    if kind == "whole" and entry["fingerprint"] is None:
        entry["fingerprint"] = run_sql(cur, "published#fingerprint", {"table": name}).fetchall()[0][
            0
        ]
    return {**entry, "files": dict(sorted(files.items()))}


def _marked_months(
    cur: duckdb.DuckDBPyConnection, name: str, marks: list[str | None], published: dict[str, Any]
) -> list[str] | None:
    """Return the months from the earliest mark on, published or present; None: all."""
    if not marks:
        return []
    if any(first is None for first in marks):
        return None
    first = min(marks)
    stored = _periods(
        run_sql(cur, "published#months_from", {"table": name, "first_day": _month_start(first)})
    )
    return sorted({p for p in published if p >= first} | set(stored))


def _month_start(period: str | None) -> dt.date | None:
    return None if period is None else dt.date.fromisoformat(period + "-01")


def _periods(result: duckdb.DuckDBPyConnection) -> list[str]:
    return sorted(row[0] for row in result.fetchall())


def _write(
    cur: duckdb.DuckDBPyConnection,
    base: Path,
    name: str,
    kind: str,
    periods: list[str] | None,
) -> dict[str, dict[str, Any]]:
    """Write new files for `periods` of a table (None: all); return {period: {path, rows}}."""
    table_folder = base / name
    if kind == "whole":
        table_folder.mkdir(parents=True, exist_ok=True)
        path = table_folder / f"part_{os.urandom(8).hex()}.parquet"
        run_sql(cur, "published#copy_whole", {"table": name, "path": str(path)})
        written = [str(path)]
    else:
        if periods is None:
            periods = _all_periods(cur, name, kind)
        if not periods:
            return {}
        params = {"periods": periods, "folder": str(table_folder)}
        if kind == "month":
            first_day = _month_start(periods[0])
            copied = run_sql(
                cur, "published#copy_months", {**params, "table": name, "first_day": first_day}
            )
        else:
            copied = run_sql(cur, "published#copy_batches", params)
        written = copied.fetchall()[0][1]
    rows = (
        dict(run_sql(cur, "published#file_rows", {"files": written}).fetchall()) if written else {}
    )
    out = {}
    for path in written:
        relative = Path(path).relative_to(base).as_posix()
        period = "all" if kind == "whole" else Path(path).parent.name.split("=", 1)[1]
        if period in out:  # DuckDB splits a partition only when asked to (file_size_bytes)
            raise AssertionError(f"{name}: two files for {period}: {out[period]}, {relative}")
        out[period] = {"path": relative, "rows": int(rows[path])}
    return out


def _all_periods(cur: duckdb.DuckDBPyConnection, name: str, kind: str) -> list[str]:
    if kind == "batches":
        return _periods(run_sql(cur, "published#batch_blocks_since", {"after_batch": -1}))
    return _periods(run_sql(cur, "published#months_from", {"table": name, "first_day": None}))


def _marks(cur: duckdb.DuckDBPyConnection) -> dict[str, list[str | None]]:
    marks: dict[str, list[str | None]] = {}
    for table, first in run_sql(cur, "published#marks").fetchall():
        marks.setdefault(table, []).append(first)
    return marks


def _swap_manifest(home: Home, manifest: Manifest) -> None:
    data = {"format": MANIFEST_FORMAT, **dataclasses.asdict(manifest)}
    target = folder(home) / "manifest.json"
    tmp = target.with_name(f".manifest.{os.getpid()}.json")
    with tmp.open("w", encoding="utf-8") as out:
        out.write(json.dumps(data, indent=1))
        out.flush()
        os.fsync(out.fileno())  # on disk before it is named: a crash leaves old or new, whole
    os.replace(tmp, target)


def _remove_unlisted(base: Path, manifest: Manifest) -> None:
    """Remove files neither listed nor recently retired, and folders left empty.

    Only the writer publishes (it holds the warehouse), so an unlisted file is a leftover of a
    publish that stopped before its manifest swap, or a retired file past its time.
    """
    keep = {
        path
        for entry in manifest.tables.values()
        for path in (f["path"] for f in entry["files"].values())
    } | {r["path"] for r in manifest.retired}
    for table_folder in _children(base):
        for path in table_folder.rglob("*.parquet"):
            if path.relative_to(base).as_posix() not in keep:
                path.unlink(missing_ok=True)
        for sub in sorted(table_folder.rglob("*"), reverse=True):
            if sub.is_dir() and not any(sub.iterdir()):
                sub.rmdir()
        if not any(table_folder.iterdir()):
            shutil.rmtree(table_folder, ignore_errors=True)
    for leftover in base.glob(".manifest.*.json"):
        leftover.unlink(missing_ok=True)


def _children(base: Path) -> Iterable[Path]:
    return [p for p in base.iterdir() if p.is_dir()]
