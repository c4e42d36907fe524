"""The DuckDB warehouse: where it lives, its schema migrations, and the SQL files that shape it.

Every SQL statement cae runs lives in `sql/` (shipped in the wheel as `cae/sql`); this module is
the only place that finds and executes those files, so a newcomer reads the SQL, not Python strings.
A file holds one relation or transformation (`daily_base`, named by its file), or the short
statements on one table as named blocks (aiosql's `-- name: pending_drop` convention), named
`<file>#<block>`: `run_sql(con, "prices#pending_drop")`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from cae.errors import ConfigError, HomeError
from cae.home import Home, HomeLike

__all__ = [
    "apply_migrations",
    "check_intact",
    "connect",
    "data_version",
    "home_error",
    "home_errors",
    "is_interrupted_query",
    "lookback_floor",
    "params_used",
    "query_frame",
    "read_sql",
    "run_sql",
    "schema_version",
    "sql_dir",
    "transaction",
]

# A DuckDB file starts with three 4 KiB headers (main header, two database headers) before its
# blocks; a file shorter than that plus its blocks was cut short.
DUCKDB_HEADER_BYTES = 3 * 4096
# What the machine, not cae, did wrong: OS error numbers, and how DuckDB words the same causes.
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_READ_ONLY_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)
_FULL_WORDS = ("No space left on device", "Disk quota exceeded")
_READ_ONLY_WORDS = ("Read-only file system", "Permission denied")
_LOCK_WORDS = ("Could not set lock", "Conflicting lock")
_DAMAGE_WORDS = ("not a valid DuckDB database file", "Could not read enough bytes", "Corrupt")
# `<file>#<block>` names one block of a file; a line `-- name: <block>` opens that block.
BLOCK_SEPARATOR = "#"
_BLOCK_NAME = re.compile(r"^-- name: (\w+)[ \t]*\n", re.MULTILINE)
# A signal that arrives while DuckDB runs a query stops the query, and DuckDB raises this in
# place of the exception the signal handler raised (cae's Interrupted, Prefect's TerminationSignal).
_QUERY_INTERRUPTED = "Query interrupted"


def sql_dir() -> Traversable:
    """Return the folder of SQL files, the same in a checkout and in an installed wheel."""
    return files("cae") / "sql"


def read_sql(name: str) -> str:
    """Return the SQL called `name`: `<file>` for a whole file, `<file>#<block>` for one block.

    `<file>` is the path under `sql/` without `.sql` and may include a sub-folder
    (`panel/characteristics#drop`). A block runs from its `-- name: <block>` line to the next
    one. A file of named blocks can only be read block by block, so that a caller never runs
    all of them by mistake. Raises `FileNotFoundError` or `LookupError` for an unknown name.
    """
    file, _, block = name.partition(BLOCK_SEPARATOR)
    path = sql_dir().joinpath(*f"{file}.sql".split("/"))
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file named {file}.sql in {sql_dir()}")
    text = path.read_text(encoding="utf-8")
    blocks = _named_blocks(text, file)
    if not block and not blocks:
        return text
    if block in blocks:
        return blocks[block]
    listed = ", ".join(f"{file}{BLOCK_SEPARATOR}{each}" for each in blocks) or "none"
    raise LookupError(f"no SQL named {name} in sql/{file}.sql; its blocks: {listed}")


def _named_blocks(text: str, file: str) -> dict[str, str]:
    # re.split with one group gives [header, name, body, name, body, ...].
    _header, *pieces = _BLOCK_NAME.split(text)
    names, bodies = pieces[::2], pieces[1::2]
    if len(set(names)) < len(names):
        raise LookupError(f"sql/{file}.sql names a block twice: {sorted(names)}")
    return dict(zip(names, bodies, strict=True))


def params_used(text: str, params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Return the parameters `text` mentions (`$name`), or None: DuckDB refuses unused ones."""
    used = {k: v for k, v in (params or {}).items() if f"${k}" in text}
    return used or None


def run_sql(
    con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """Execute the SQL called `name` (see `read_sql`) with named DuckDB parameters (`$param`).

    Only parameters the file or block mentions are passed, so callers may hand over a shared dict.
    Returns the connection so the caller can fetch (`.pl()`, `.fetchall()`, ...).
    """
    text = read_sql(name)
    used = params_used(text, params)
    return con.execute(text, used) if used else con.execute(text)


def query_frame(
    con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None
) -> pl.DataFrame:
    """Run the query called `name` (see `read_sql`) with named parameters; return a Polars frame.

    Uses a relation (`con.sql`), not `execute`: in DuckDB 2.0 an unfinished `execute` result
    blocks the connection, and taking Arrow from it copies the rows once more.
    """
    text = read_sql(name)
    return pl.from_arrow(con.sql(text, params=params_used(text, params)).to_arrow_table())


def _migration_names() -> list[str]:
    folder = sql_dir() / "migrations"
    return sorted(p.name.removesuffix(".sql") for p in folder.iterdir() if p.name.endswith(".sql"))


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """Return the number of migrations applied to this warehouse (0 for a new file)."""
    try:
        # fetchall, not fetchone: DuckDB 2.0 keeps a half-read result open and blocks the
        # connection.
        rows = run_sql(con, "schema_migrations#version").fetchall()
    except duckdb.CatalogException:  # a new file: no bookkeeping table yet
        return 0
    return int(rows[0][0]) if rows else 0


def apply_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the migrations in `sql/migrations/` that this warehouse has not seen, in order.

    Each migration runs in its own transaction together with its bookkeeping row, so a failure
    leaves the warehouse at the previous version. Returns the names applied.
    """
    run_sql(con, "schema_migrations#create")
    current = schema_version(con)
    applied = []
    for name in _migration_names():
        version = int(name.split("_", 1)[0])
        if version <= current:
            continue
        with transaction(con):
            con.execute(read_sql(f"migrations/{name}"))
            run_sql(con, "schema_migrations#record", {"version": version, "name": name})
        applied.append(name)
    return applied


def connect(home: HomeLike = None, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse in `home`, creating it and applying migrations when writable.

    Raises `ConfigError` when another process holds the file, and `HomeError` when the file is
    damaged (cut short, not a DuckDB file) or the home is read-only or full.
    """
    path = Home.of(home).warehouse
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as error:
        raise _open_error(path, error) from None
    try:
        _check_complete(con, path)
        if not read_only:
            with home_errors():
                apply_migrations(con)
    except BaseException:
        con.close()
        raise
    return con


def check_intact(home: HomeLike = None) -> None:
    """Raise `HomeError` if the warehouse file is damaged; a missing or busy file passes.

    For callers that open the warehouse later, inside retried Prefect tasks, where a damaged
    file would fail every attempt with a traceback in the logs.
    """
    if not Home.of(home).warehouse.is_file():
        return
    try:
        connect(home, read_only=True).close()
    except ConfigError:  # held by a writer, so in use and not damaged; the task retries
        return


def data_version(con: duckdb.DuckDBPyConnection) -> str:
    """Return the warehouse's ingest state as `batch-<max batch_id>-n<count>-<md5 prefix>`.

    Any new or changed batch that added or changed prices changes it, so caches keyed on it
    expire exactly when the data does.
    """
    n_batches, max_batch_id, batches_md5 = run_sql(con, "data_version").fetchone()
    return f"batch-{max_batch_id}-n{n_batches}-{batches_md5[:12]}"


def lookback_floor(
    con: duckdb.DuckDBPyConnection, since: dt.date, *, sessions: int, days: int
) -> dt.date | None:
    """Return `since - days`, from which each ticker has its `sessions` before `since`, or None.

    For computations over prices that need a look-back: reading from the floor on is exact
    unless a ticker had long gaps in those days (`prices#short_before`); None then says read
    all history.
    """
    floor = since - dt.timedelta(days=days)
    check = {"since": since, "floor": floor, "sessions": sessions}
    short = run_sql(con, "prices#short_before", check).fetchall()[0][0]
    return floor if short == 0 else None


def is_interrupted_query(error: BaseException) -> bool:
    """Return True when `error` is DuckDB saying a signal stopped its query."""
    if isinstance(error, duckdb.InterruptException):
        return True
    return isinstance(error, RuntimeError) and str(error) == _QUERY_INTERRUPTED


def home_error(error: BaseException) -> HomeError | None:
    """Return the one-line `HomeError` for a full or read-only disk, or None for other errors.

    Takes an `OSError` (its errno) or a DuckDB error (its wording); names the file concerned.
    """
    if isinstance(error, OSError):
        where, number = error.filename, error.errno
        full, read_only = number in _FULL_ERRNOS, number in _READ_ONLY_ERRNOS
    elif isinstance(error, duckdb.Error):
        # 'Could not write file "/x": ...', sometimes inside escaped JSON ('file \\"/x\\"').
        quoted = re.search(r'file \\?"([^"\\]+)', str(error))
        where = quoted.group(1) if quoted else None
        full = any(words in str(error) for words in _FULL_WORDS)
        read_only = any(words in str(error) for words in _READ_ONLY_WORDS)
    else:
        return None
    where = f" ({where})" if where else ""
    if full:
        return HomeError(
            f"no space left on device{where}: the command stopped and kept the last committed "
            "state; free some space and run it again"
        )
    if read_only:
        return HomeError(
            f"cannot write to the home folder{where}: it is read-only or not yours; "
            "give --home a writable folder"
        )
    return None


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run a block atomically: commit when it returns, roll back when it raises.

    A statement that fails inside the block aborts the transaction, and any later statement
    (a cleanup in a `finally`) fails with "transaction is aborted"; the first failure is the
    cause, so that one is raised. A full or read-only disk becomes a one-line `HomeError`.
    """
    con.execute("begin transaction")
    try:
        with home_errors():
            yield con
    except BaseException as error:
        # After a fatal error (a failed write) DuckDB refuses even the rollback; the disk still
        # holds the last commit, and the error worth showing is the first one.
        with contextlib.suppress(duckdb.Error):
            con.execute("rollback")
        cause = _first_failure(error)
        if cause is error:
            raise
        raise cause from None
    with home_errors():
        con.execute("commit")


@contextmanager
def home_errors() -> Iterator[None]:
    """Turn a full or read-only disk met in the block into a one-line `HomeError`."""
    try:
        yield
    except (OSError, duckdb.Error) as error:
        cause = _first_failure(error)
        translated = home_error(cause)
        if translated is None:
            raise
        raise translated from cause


def _first_failure(error: BaseException) -> BaseException:
    while isinstance(error, duckdb.TransactionException) and isinstance(
        error.__context__, duckdb.Error | OSError
    ):
        error = error.__context__
    return error


def _open_error(path: Path, error: duckdb.IOException) -> Exception:
    message = str(error).splitlines()[0]
    if any(words in message for words in _LOCK_WORDS):
        # DuckDB allows one writing process per file: another cae command holds it.
        return ConfigError(f"cannot open {path}: {message}")
    if any(words in message for words in _DAMAGE_WORDS):
        return _damaged(path, message.removeprefix("IO Error: "))
    return home_error(error) or error


def _check_complete(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    # Blocks are read when a query needs them, so a cut file opens fine and fails later, in the
    # middle of a command. Each block in use has its own place in the file, so the file holds at
    # least that many (free blocks at its end may have been cut off by DuckDB itself).
    block_size, _, used_blocks = con.execute("pragma database_size").fetchall()[0][2:5]
    expected = DUCKDB_HEADER_BYTES + block_size * used_blocks
    actual = path.stat().st_size
    if actual < expected:
        raise _damaged(path, f"{actual} bytes, its blocks in use need {expected}")


def _damaged(path: Path, detail: str) -> HomeError:
    return HomeError(
        f"the warehouse file {path} is damaged ({detail}): restore it from a backup, or move it "
        "aside (keep it for recovery) and run `cae ingest` to start a new warehouse"
    )
