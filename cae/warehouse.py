"""The DuckDB warehouse: where it lives, its schema migrations, and the SQL files that shape it.

Every SQL statement cae runs lives in `sql/` (shipped in the wheel as `cae/sql`); this module is
the only place that finds and executes those files, so a newcomer reads the SQL, not Python strings.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

__all__ = [
    "DEFAULT_HOME",
    "WAREHOUSE_FILE",
    "apply_migrations",
    "connect",
    "home_dir",
    "query_frame",
    "read_sql",
    "run_sql",
    "schema_version",
    "sql_dir",
    "transaction",
    "warehouse_path",
]

DEFAULT_HOME = Path("data")
WAREHOUSE_FILE = "warehouse.duckdb"


def home_dir(home: str | os.PathLike[str] | None = None) -> Path:
    """Return the cae home directory: the argument, else `$CAE_HOME`, else `./data`."""
    if home is not None:
        return Path(home)
    return Path(os.environ.get("CAE_HOME", DEFAULT_HOME))


def warehouse_path(home: str | os.PathLike[str] | None = None) -> Path:
    """Return the warehouse file inside the home directory."""
    return home_dir(home) / WAREHOUSE_FILE


def sql_dir() -> Traversable:
    """Return the folder of SQL files, the same in a checkout and in an installed wheel."""
    return files("cae") / "sql"


def read_sql(name: str) -> str:
    """Return the text of `sql/<name>.sql` (`name` may include a sub-folder)."""
    path = sql_dir().joinpath(*f"{name}.sql".split("/"))
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file named {name}.sql in {sql_dir()}")
    return path.read_text(encoding="utf-8")


def run_sql(
    con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """Execute `sql/<name>.sql` with named DuckDB parameters (`$name` in the file).

    Only parameters the file mentions are passed, so callers may hand over a shared dict.
    Returns the connection so the caller can fetch (`.pl()`, `.fetchall()`, ...).
    """
    text = read_sql(name)
    used = {k: v for k, v in (params or {}).items() if f"${k}" in text}
    return con.execute(text, used) if used else con.execute(text)


def query_frame(
    con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None
) -> pl.DataFrame:
    """Run the query in `sql/<name>.sql` with named parameters and return a Polars frame.

    Uses a relation (`con.sql`), not `execute`: in DuckDB 2.0 an unfinished `execute` result
    blocks the connection, and taking Arrow from it copies the rows once more.
    """
    text = read_sql(name)
    used = {k: v for k, v in (params or {}).items() if f"${k}" in text}
    return pl.from_arrow(con.sql(text, params=used or None).to_arrow_table())


def _migration_names() -> list[str]:
    folder = sql_dir() / "migrations"
    return sorted(p.name.removesuffix(".sql") for p in folder.iterdir() if p.name.endswith(".sql"))


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """Return the number of migrations applied to this warehouse (0 for a new file)."""
    try:
        # fetchall, not fetchone: DuckDB 2.0 keeps a half-read result open and blocks the
        # connection.
        rows = run_sql(con, "schema_version").fetchall()
    except duckdb.CatalogException:  # a new file: no bookkeeping table yet
        return 0
    return int(rows[0][0]) if rows else 0


def apply_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the migrations in `sql/migrations/` that this warehouse has not seen, in order.

    Each migration runs in its own transaction together with its bookkeeping row, so a failure
    leaves the warehouse at the previous version. Returns the names applied.
    """
    run_sql(con, "schema_migrations")
    current = schema_version(con)
    applied = []
    for name in _migration_names():
        version = int(name.split("_", 1)[0])
        if version <= current:
            continue
        with transaction(con):
            con.execute(read_sql(f"migrations/{name}"))
            run_sql(con, "schema_migrations_record", {"version": version, "name": name})
        applied.append(name)
    return applied


def connect(
    home: str | os.PathLike[str] | None = None, *, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse in `home`, creating it and applying migrations when writable."""
    path = warehouse_path(home)
    if read_only:
        return duckdb.connect(str(path), read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    apply_migrations(con)
    return con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run a block atomically: commit when it returns, roll back when it raises."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")
