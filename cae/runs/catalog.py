"""One SQL surface over the output Parquet tables and the warehouse, safe to use during a run.

`<home>/outputs/catalog.duckdb` holds only views (`sql/catalog_views.sql`) over the Parquet
partitions written by `cae.runs.outputs`. A query opens it read-only and attaches warehouse tables
read-only under the alias `warehouse`, with the search path set so `prices` and `metrics` join
in one statement.

Locks (measured with DuckDB 2.0, see docs/benchmarks.md): a process holding a read-write
connection to a DuckDB file makes every other process's open of that file fail, read-only
included, and a read-only reader makes a writer's open fail. So by default a query never touches
the live `warehouse.duckdb`: it attaches `warehouse_snapshot.duckdb`, a copy that the writer
refreshes with `snapshot_warehouse(home, con)` after it commits. Snapshot and catalog are
replaced by rename, which needs no lock, so readers never block writers and writers never make a
running query fail. `warehouse="live"` reads the live file instead, for when no writer runs.

Consistency: each table's partitions appear whole, but one query lists each table's files
separately, so while a run is being published a query may see its metrics before its `succeeded`
row. Filter on `runs.status = 'succeeded'` and re-run the query after the publish for a settled
view.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Literal

import duckdb
import polars as pl

from cae import warehouse as wh
from cae.errors import CaeError, ConfigError
from cae.home import Home, HomeLike
from cae.runs.outputs import scratch_path

__all__ = [
    "build_catalog",
    "catalog_path",
    "connect",
    "ensure_catalog",
    "query",
    "snapshot_path",
    "snapshot_warehouse",
]

WarehouseMode = Literal["snapshot", "live", "none"]
_WAREHOUSE_MODES = ("snapshot", "live", "none")
_SNAPSHOT_HINT = (
    " (warehouse tables are read from outputs/warehouse_snapshot.duckdb, which writers refresh "
    "with cae.runs.catalog.snapshot_warehouse after they commit)"
)


def catalog_path(home: HomeLike = None) -> Path:
    """Return `<home>/outputs/catalog.duckdb`."""
    return Home.of(home).catalog


def snapshot_path(home: HomeLike = None) -> Path:
    """Return `<home>/outputs/warehouse_snapshot.duckdb`, the copy readers attach."""
    return Home.of(home).snapshot


def build_catalog(home: HomeLike = None) -> Path:
    """Write the catalog file from `sql/catalog_views.sql`: build aside, then rename into place.

    The rename means a reader holding the old file keeps reading it and no lock is needed.
    """
    target = catalog_path(home)
    tmp = _tmp_db(home)
    try:
        with wh.home_errors(), duckdb.connect(str(tmp)) as con:
            wh.run_sql(con, "catalog_views")
            wh.run_sql(con, "catalog#meta_write", {"views_sha256": _views_sha256()})
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def ensure_catalog(home: HomeLike = None) -> Path:
    """Return the catalog file, (re)building it when missing or built from other view SQL."""
    path = catalog_path(home)
    if path.is_file():
        with duckdb.connect(str(path), read_only=True) as con:
            try:
                row = wh.run_sql(con, "catalog#views_sha256").fetchone()
            except duckdb.CatalogException:
                row = None
        if row is not None and row[0] == _views_sha256():
            return path
    return build_catalog(home)


def snapshot_warehouse(
    home: HomeLike = None, con: duckdb.DuckDBPyConnection | None = None
) -> Path | None:
    """Copy the warehouse to `warehouse_snapshot.duckdb` for readers; return it, or None if busy.

    A writer passes its own read-write connection (call it between transactions, after a
    commit): the copy then needs no second lock. Without `con` the warehouse is opened read-only
    for the copy; if a writer holds it, nothing happens and None is returned, because waiting
    for the lock is exactly what readers must not do.
    """
    path = Home.of(home).warehouse
    tmp = _tmp_db(home)
    target = snapshot_path(home)
    try:
        if con is not None:
            with wh.home_errors():
                _copy_warehouse(con, tmp)
        elif not path.is_file():
            return None
        else:
            try:
                with duckdb.connect() as reader:
                    wh.run_sql(reader, "catalog#attach_warehouse", {"warehouse_path": str(path)})
                    _copy_warehouse(reader, tmp)
            except (duckdb.IOException, duckdb.ResourceInUseException):
                return None
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def connect(
    home: HomeLike = None, *, warehouse: WarehouseMode = "snapshot"
) -> duckdb.DuckDBPyConnection:
    """Open the catalog read-only, with warehouse tables attached as `warehouse` when available.

    `warehouse`: `snapshot` (default), `live` (the warehouse file itself: fails if a writer
    holds it, and makes a writer's open fail while connected) or `none`. In `snapshot` mode a
    home that has a warehouse but no snapshot yet gets one first (skipped at once if a writer
    holds the warehouse); after that, keeping the snapshot fresh is the writers' job. The caller
    closes the connection; keep it short so a rebuilt catalog is picked up.
    """
    if warehouse not in _WAREHOUSE_MODES:
        raise ConfigError(f"warehouse must be one of {_WAREHOUSE_MODES}, got {warehouse!r}")
    folder = Home.of(home).outputs
    folder.mkdir(parents=True, exist_ok=True)
    path = ensure_catalog(home)
    con = duckdb.connect(str(path), read_only=True, config={"file_search_path": str(folder)})
    source = {"snapshot": snapshot_path(home), "live": Home.of(home).warehouse}.get(warehouse)
    if warehouse == "snapshot" and not source.is_file() and snapshot_warehouse(home) is None:
        return con
    if source is None:
        return con
    try:
        wh.run_sql(con, "catalog#attach_warehouse", {"warehouse_path": str(source)})
        wh.run_sql(con, "catalog#search_path")
    except duckdb.Error as error:
        con.close()
        raise CaeError(
            f"cannot attach {source} read-only: {error}. A writer holds it; query with "
            "warehouse='snapshot' instead"
        ) from error
    return con


def query(
    home: HomeLike,
    sql: str,
    *,
    params: dict[str, Any] | None = None,
    warehouse: WarehouseMode = "snapshot",
) -> pl.DataFrame:
    """Run one analyst query over the output views and warehouse tables; return a Polars frame.

    The statement is the user's own SQL, executed with `params` as DuckDB named parameters.
    """
    with connect(home, warehouse=warehouse) as con:
        try:
            result = con.sql(sql, params=params or None)
            return pl.DataFrame() if result is None else result.pl()
        except duckdb.CatalogException as error:
            hint = "" if warehouse == "live" else _SNAPSHOT_HINT
            raise CaeError(f"query failed: {_one_line(error)}{hint}") from error
        except duckdb.Error as error:
            raise CaeError(f"query failed: {_one_line(error)}") from error


def _copy_warehouse(con: duckdb.DuckDBPyConnection, target: Path) -> None:
    wh.run_sql(con, "warehouse_snapshot#attach", {"snapshot_path": str(target)})
    try:
        wh.run_sql(con, "warehouse_snapshot#copy")
    finally:
        wh.run_sql(con, "warehouse_snapshot#detach")


def _one_line(error: Exception) -> str:
    # DuckDB messages span lines (hints, a caret under the query); the CLI prints one line.
    return " ".join(str(error).split())


def _views_sha256() -> str:
    return hashlib.sha256(wh.read_sql("catalog_views").encode()).hexdigest()


def _tmp_db(home: HomeLike) -> Path:
    return scratch_path(home, ".duckdb")
