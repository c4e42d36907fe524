"""One SQL surface over the output Parquet tables and the warehouse, safe to use during a run.

`<home>/outputs/catalog.duckdb` holds only views (`sql/catalog_views.sql`) over the Parquet
partitions written by `cae.runs.outputs`. A query opens it read-only and attaches the warehouse's
tables as database `warehouse` (search path set so `prices` and `metrics` join in one statement).

The warehouse tables come from its published version (`cae.warehouse.published`): Parquet files
listed by one manifest that writers swap in after they commit. A query reads the manifest once,
so it sees one committed version whole, takes no lock, never waits for a writer and never makes
one wait. `warehouse="live"` attaches the live `warehouse.duckdb` read-only instead (it fails
while a writer holds the file, and a writer's open fails while it is attached).

Run outputs: each table's partitions appear whole, but one query lists each table's files
separately, so while a run is being published a query may see its metrics before its
`succeeded` row. Filter on `runs.status = 'succeeded'` for a settled view.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any, Literal

import duckdb
import polars as pl

from cae import warehouse as wh
from cae.errors import CaeError, ConfigError, HomeError
from cae.home import Home, HomeLike
from cae.runs.outputs import scratch_path
from cae.warehouse import published

__all__ = [
    "build_catalog",
    "catalog_path",
    "connect",
    "ensure_catalog",
    "query",
]

WarehouseMode = Literal["published", "live", "none"]
_WAREHOUSE_MODES = ("published", "live", "none")
_PUBLISHED_HINT = (
    " (warehouse tables are read from their published version, outputs/warehouse/manifest.json, "
    "which each command that writes the warehouse updates)"
)


def catalog_path(home: HomeLike = None) -> Path:
    """Return `<home>/outputs/catalog.duckdb`."""
    return Home.of(home).catalog


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


def connect(
    home: HomeLike = None, *, warehouse: WarehouseMode = "published"
) -> duckdb.DuckDBPyConnection:
    """Open the catalog read-only, with warehouse tables attached as `warehouse` when available.

    `warehouse`: `published` (default: the last published version, see the module docstring),
    `live` (the warehouse file itself: fails if a writer holds it, and makes a writer's open
    fail while connected) or `none`. A home whose warehouse was never published (made by an
    older cae) is published first when no writer holds it. The caller closes the connection.
    """
    if warehouse not in _WAREHOUSE_MODES:
        raise ConfigError(f"warehouse must be one of {_WAREHOUSE_MODES}, got {warehouse!r}")
    folder = Home.of(home).outputs
    folder.mkdir(parents=True, exist_ok=True)
    path = ensure_catalog(home)
    # In memory, so the warehouse's published views can be created beside the read-only catalog.
    con = duckdb.connect(config={"file_search_path": str(folder)})
    try:
        wh.run_sql(con, "catalog#attach_catalog", {"catalog_path": str(path)})
        wh.run_sql(con, "catalog#use_catalog")
        if warehouse == "published":
            _publish_if_never(home)
            if published.attach(con, home) is not None:
                wh.run_sql(con, "catalog#search_path")
        elif warehouse == "live":
            _attach_live(con, Home.of(home).warehouse)
    except BaseException:
        con.close()
        raise
    return con


def query(
    home: HomeLike,
    sql: str,
    *,
    params: dict[str, Any] | None = None,
    warehouse: WarehouseMode = "published",
) -> pl.DataFrame:
    """Run one analyst query over the output views and warehouse tables; return a Polars frame.

    The statement is the user's own SQL, executed with `params` as DuckDB named parameters.
    A query whose files were removed under it (it read a manifest over an hour old) runs
    again on the current version.
    """
    for attempt in (1, 2):
        try:
            with connect(home, warehouse=warehouse) as con:
                result = con.sql(sql, params=params or None)
                return pl.DataFrame() if result is None else result.pl()
        except duckdb.IOException as error:
            if attempt == 1 and "No such file" in str(error):
                continue
            raise CaeError(f"query failed: {_one_line(error)}") from error
        except duckdb.CatalogException as error:
            hint = "" if warehouse == "live" else _PUBLISHED_HINT
            raise CaeError(f"query failed: {_one_line(error)}{hint}") from error
        except duckdb.Error as error:
            raise CaeError(f"query failed: {_one_line(error)}") from error
    raise AssertionError("unreachable")


def _publish_if_never(home: HomeLike) -> None:
    """Publish a warehouse that never was (a home from before publishing), if no writer holds it."""
    if published.read_manifest(home) is not None or not Home.of(home).warehouse.is_file():
        return
    try:
        con = wh.connect(home)
    except (ConfigError, HomeError):  # a writer holds it (and publishes when done), or read-only
        return
    with con, contextlib.suppress(HomeError):  # outputs not writable: nothing to show then
        published.publish(con, home)


def _attach_live(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    try:
        wh.run_sql(con, "catalog#attach_warehouse", {"warehouse_path": str(path)})
        wh.run_sql(con, "catalog#search_path")
    except duckdb.Error as error:
        raise CaeError(
            f"cannot attach {path} read-only: {_one_line(error)}. A writer holds it; query its "
            "published version instead (without --live)"
        ) from error


def _one_line(error: Exception) -> str:
    # DuckDB messages span lines (hints, a caret under the query); the CLI prints one line.
    return " ".join(str(error).split())


def _views_sha256() -> str:
    return hashlib.sha256(wh.read_sql("catalog_views").encode()).hexdigest()


def _tmp_db(home: HomeLike) -> Path:
    return scratch_path(home, ".duckdb")
