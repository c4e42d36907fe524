"""The output tables of a run, as Parquet partitions that appear all at once or not at all.

Layout under `<home>/outputs/` (docs/architecture.md, "Tables"):

- `<table>/run_id=<id>/data.parquet`: one zstd file per table and run (hive partitioning; the
  `run_id` column lives in the path, not in the file);
- `.staging/run_id=<id>/`: what a running run has written so far, plus `owner.json` (who runs
  it: see `cae.runs.owners`);
- `.tmp/`: files being written, renamed into place when complete; each name starts with its
  writer's `run_owners.owner_token`, so the files of a killed writer can be told apart.

A run goes `start_run` -> `write_table` (any number of times) -> `finish_run`. Data tables are
staged and published by `finish_run(..., "succeeded")` with one `os.replace` per table, so a reader
sees the previous partition or the new one, never a half-written file. A failed run publishes
nothing and removes what an earlier attempt of the same `run_id` had published, so `failed` always
means "no rows"; `runs.failure_reason` says why. A killed run leaves only staging debris and a
`running` row; the next `start_run` (or `mark_abandoned_runs`, which every `cae` command calls on
its home) marks it failed with the reason "process gone" and removes its scratch files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from cae import warehouse
from cae.errors import CaeError, ConfigError
from cae.home import Home, HomeLike
from cae.runs import owners as run_owners
from cae.runs import versions
from cae.runs.schemas import TABLES, polars_schema, validate

__all__ = [
    "GONE_REASON",
    "RUN_STATUSES",
    "TABLES",
    "config_json",
    "failure_reason",
    "finish_run",
    "latest_run_id",
    "mark_abandoned_runs",
    "new_run_id",
    "partition_path",
    "read_table",
    "run",
    "scratch_path",
    "start_run",
    "write_table",
]

OWNER_FILE = "owner.json"
COMPRESSION = "zstd"
RUN_STATUSES = ("running", "succeeded", "failed")
DATA_TABLES = tuple(t for t in TABLES if t != "runs")
# Run ids and part names become directory and file names: no separators, no `=` (hive syntax).
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# No write takes a day: an older scratch file named without an owner token is a killed writer's.
STALE_SCRATCH_S = 24 * 3600
GONE_REASON = "process gone"  # the run's process died without marking it (kill -9, power loss)
MAX_REASON_CHARS = 500  # runs.failure_reason is one line for tables and the CLI


def partition_path(home: HomeLike, table: str, run_id: str) -> Path:
    """Return the published file of one table and run (it may not exist)."""
    _check_table(table)
    return Home.of(home).partition(table, run_id)


def new_run_id(now: datetime | None = None) -> str:
    """Return a fresh run id: UTC start time and 6 random hex digits (`r20261123-201500-a1b2c3`).

    The leading letter keeps DuckDB's hive type inference from reading the id as a number.
    """
    now = now or datetime.now(UTC)
    return f"r{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def start_run(
    home: HomeLike,
    config: Any,
    *,
    run_id: str | None = None,
    data_version: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> str:
    """Register a run as `running` and return its id.

    `config` is a dataclass or a mapping; it is stored as sorted JSON in `runs.config_json`.
    Passing an existing `run_id` starts it again: its staging is cleared and its partitions are
    replaced when it finishes. The data version is, in order: the argument, computed on `con`
    (the caller's warehouse connection), computed on a short read-only connection, or
    `no-warehouse` when the warehouse file does not exist.
    """
    run_id = new_run_id() if run_id is None else run_id
    _check_name(run_id, "run_id")
    mark_abandoned_runs(home)
    _refuse_live_run(home, run_id)
    version = data_version or _resolve_data_version(home, con)
    staging = _staging_dir(home, run_id)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    owner = json.dumps(run_owners.current_owner()).encode()
    _atomic_write_bytes(home, staging / OWNER_FILE, owner)
    row = {
        "created_at": datetime.now(UTC),
        "finished_at": None,
        "config_json": config_json(config),
        "code_version": versions.code_version(),
        "data_version": version,
        "status": "running",
    }
    _publish_frame(home, "runs", run_id, pl.DataFrame([row]))
    return run_id


def write_table(
    home: HomeLike,
    run_id: str,
    table: str,
    frame: pl.DataFrame,
    *,
    part: str = "all",
) -> Path:
    """Validate `frame` and stage it as one part of `table` for a running run.

    Writing the same `part` again replaces it (a retried task does not duplicate rows); distinct
    parts (e.g. one per window) are concatenated when the run finishes. A `run_id` column in
    `frame` must equal `run_id`; it is dropped because the partition path carries it.
    Returns the staged file. Raises `ValidationError` naming the table, row and rule.
    """
    if table not in DATA_TABLES:
        raise ConfigError(f"unknown output table {table!r}; expected one of {DATA_TABLES}")
    _check_name(part, "part")
    staging = _staging_dir(home, run_id)
    if not (staging / OWNER_FILE).is_file():
        raise CaeError(
            f"run {run_id} is not running in {Home.of(home).outputs}: call start_run first"
        )
    target = staging / table / f"part-{part}.parquet"
    clean = validate(table, _drop_run_id(frame, run_id, table), where=f"{target} (run {run_id})")
    target.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write_parquet(home, clean, target)
    return target


def finish_run(home: HomeLike, run_id: str, status: str, reason: str | None = None) -> None:
    """End a run: publish its staged tables (`succeeded`) or discard them (`failed`, `reason`).

    On success each staged table becomes `<table>/run_id=<id>/data.parquet` through a rename, and
    tables this attempt did not write lose any partition from an earlier attempt. The `runs` row
    is rewritten last, so a reader that sees `succeeded` also sees every table.
    """
    if status not in RUN_STATUSES[1:]:
        raise ConfigError(f"finish_run status must be one of {RUN_STATUSES[1:]}, got {status!r}")
    row = read_table(home, "runs", run_id)
    if row.is_empty():
        raise CaeError(f"no run {run_id} in {Home.of(home).outputs}")
    if row["status"][0] != "running":
        # Finishing twice would publish an empty staging area over the real results.
        raise CaeError(f"run {run_id} is not running (status {row['status'][0]})")
    staging = _staging_dir(home, run_id)
    if status == "succeeded":
        try:
            _publish_staged(home, run_id, staging)
        except BaseException as error:
            # A run that cannot publish is a failed run: no rows, and the row says so.
            _unpublish(home, run_id)
            _set_status(home, row, "failed", f"publishing: {failure_reason(error)}")
            shutil.rmtree(staging, ignore_errors=True)
            raise
    else:
        _unpublish(home, run_id)
    _set_status(home, row, status, reason if status == "failed" else None)
    shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def run(home: HomeLike, config: Any, **start_kwargs: Any) -> Iterator[str]:
    """Wrap a block in `start_run`/`finish_run`: `succeeded` if it returns, else `failed`."""
    run_id = start_run(home, config, **start_kwargs)
    try:
        yield run_id
    except BaseException as error:
        finish_run(home, run_id, "failed", failure_reason(error))
        raise
    finish_run(home, run_id, "succeeded")


def failure_reason(error: BaseException) -> str:
    """Return the one line `runs.failure_reason` stores for a run that `error` stopped.

    A stop signal reads "interrupted by SIGTERM": cae's `Interrupted` and Prefect's
    `TerminationSignal` carry the signal number, and a bare KeyboardInterrupt is Ctrl-C.
    """
    number = getattr(error, "signal", None)
    if number is None and isinstance(error, KeyboardInterrupt):
        number = signal.SIGINT
    if isinstance(number, int):
        return f"interrupted by {signal.Signals(number).name}"
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}"[:MAX_REASON_CHARS]


def mark_abandoned_runs(home: HomeLike = None) -> list[str]:
    """Mark `running` runs whose process on this host is gone as failed; return their ids.

    Ownership rules are in `cae.runs.owners` (pid plus process start time, this host only). The
    reason stored is `GONE_REASON`. The debris of killed writers goes too: staging folders of
    runs that are no longer running and scratch files whose owner is gone; what a live process
    is writing stays.
    """
    # A `running` row always has its staging folder (made before the row, removed after the
    # final one), so only staged runs are read: a command opening its home reads no runs table.
    staged = sorted(p.name.removeprefix("run_id=") for p in _staged_runs(home))
    running = {
        run_id
        for run_id in staged
        if (read_table(home, "runs", run_id)["status"] == "running").any()
    }
    abandoned = []
    for run_id in sorted(running):
        if run_owners.is_abandoned(_staging_dir(home, run_id) / OWNER_FILE):
            finish_run(home, run_id, "failed", GONE_REASON)
            abandoned.append(run_id)
    _remove_orphan_staging(home, running)
    _remove_dead_scratch(home)
    return abandoned


def read_table(home: HomeLike, table: str, run_id: str | None = None) -> pl.DataFrame:
    """Read the published rows of one output table, for one run or all; no DuckDB lock involved.

    Returns the table's full schema (with `run_id` first) even when nothing is published.
    """
    _check_table(table)
    if run_id is not None:
        files = [partition_path(home, table, run_id)]
        files = [f for f in files if f.is_file()]
    else:
        files = Home.of(home).partitions(table)
    empty = pl.DataFrame(schema={"run_id": pl.Utf8, **polars_schema(table)})
    if not files:
        return empty
    frames = [empty]  # diagonal concat: a file written before an optional column gets nulls
    for f in files:
        # A failed re-run may remove a partition between the listing and the read.
        with contextlib.suppress(FileNotFoundError):
            run = f.parent.name.removeprefix("run_id=")
            frames.append(pl.read_parquet(f).with_columns(run_id=pl.lit(run)))
    return pl.concat(frames, how="diagonal_relaxed").select(empty.columns).cast(empty.schema)


def latest_run_id(home: HomeLike) -> str:
    """Return the most recently started succeeded run; raise `CaeError` if there is none."""
    runs = read_table(home, "runs").filter(pl.col("status") == "succeeded")
    if runs.is_empty():
        raise CaeError(f"no succeeded run in {Home.of(home).outputs}: run `cae run`")
    return runs.sort("created_at", "run_id")["run_id"][-1]


def _resolve_data_version(home: HomeLike, con: duckdb.DuckDBPyConnection | None) -> str:
    if con is not None:
        return versions.data_version(con)
    if not Home.of(home).warehouse.is_file():
        return "no-warehouse"
    try:
        with warehouse.connect(home, read_only=True) as ro:
            return versions.data_version(ro)
    except (duckdb.IOException, duckdb.ConnectionException) as error:
        raise CaeError(
            f"cannot read the data version: {Home.of(home).warehouse} is locked by a "
            "writer; pass the writer's connection as con= or data_version="
        ) from error


def _publish_staged(home: HomeLike, run_id: str, staging: Path) -> None:
    # Compact every table first (the slow part), then rename them all (the fast part), so the
    # moment where some tables are new and others old is as short as it can be.
    compacted = {}
    try:
        for table in DATA_TABLES:
            parts = sorted((staging / table).glob("part-*.parquet"))
            if parts:
                compacted[table] = scratch_path(home)
                _compact(parts, compacted[table])
        for table in DATA_TABLES:
            published = partition_path(home, table, run_id)
            if table in compacted:
                published.parent.mkdir(parents=True, exist_ok=True)
                os.replace(compacted.pop(table), published)
            else:
                published.unlink(missing_ok=True)
    finally:
        for leftover in compacted.values():
            leftover.unlink(missing_ok=True)


def _compact(parts: list[Path], target: Path) -> None:
    pl.scan_parquet(parts).sink_parquet(target, compression=COMPRESSION)


def _unpublish(home: HomeLike, run_id: str) -> None:
    for table in DATA_TABLES:
        partition_path(home, table, run_id).unlink(missing_ok=True)


def _set_status(home: HomeLike, row: pl.DataFrame, status: str, reason: str | None) -> None:
    run_id = row["run_id"][0]
    finished = row.drop("run_id").with_columns(
        finished_at=pl.lit(datetime.now(UTC)),
        status=pl.lit(status),
        failure_reason=pl.lit(reason, dtype=pl.Utf8),
    )
    _publish_frame(home, "runs", run_id, finished)


def _refuse_live_run(home: HomeLike, run_id: str) -> None:
    # Called after mark_abandoned_runs: a row still `running` belongs to a live process.
    status = read_table(home, "runs", run_id)["status"].to_list()
    if status == ["running"]:
        raise CaeError(f"run {run_id} is already running in another process; wait or pick a new id")


def _publish_frame(home: HomeLike, table: str, run_id: str, frame: pl.DataFrame) -> None:
    target = partition_path(home, table, run_id)
    clean = validate(table, frame, where=f"{target} (run {run_id})")
    target.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write_parquet(home, clean, target)


def _atomic_write_parquet(home: HomeLike, frame: pl.DataFrame, target: Path) -> None:
    tmp = scratch_path(home)
    frame.write_parquet(tmp, compression=COMPRESSION)
    os.replace(tmp, target)


def _atomic_write_bytes(home: HomeLike, target: Path, data: bytes) -> None:
    tmp = scratch_path(home)
    tmp.write_bytes(data)
    os.replace(tmp, target)


def scratch_path(home: HomeLike, suffix: str = ".part") -> Path:
    """Return a fresh file name in `<home>/outputs/.tmp` to write before renaming into place.

    It is on the same filesystem as every output, so `os.replace` is an atomic rename. The name
    starts with the calling process's owner token, so `mark_abandoned_runs` removes the file if
    that process dies before the rename (a writer may add to the name, e.g. DuckDB's `.wal`).
    """
    folder = Home.of(home).scratch
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{run_owners.owner_token()}_{uuid.uuid4().hex}{suffix}"


def _staging_dir(home: HomeLike, run_id: str) -> Path:
    _check_name(run_id, "run_id")
    return Home.of(home).staged_run(run_id)


def _drop_run_id(frame: pl.DataFrame, run_id: str, table: str) -> pl.DataFrame:
    if "run_id" not in frame.columns:
        return frame
    others = frame.filter(pl.col("run_id") != run_id)["run_id"].unique().to_list()
    if others:
        raise ConfigError(f"{table} frame has run_id {others[:3]} but is written for run {run_id}")
    return frame.drop("run_id")


def config_json(config: Any) -> str:
    """Return a run config as `runs.config_json` stores it: sorted JSON."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if not isinstance(config, Mapping):
        raise ConfigError(f"run config must be a dataclass or a mapping, got {type(config)}")
    return json.dumps(dict(config), sort_keys=True, default=str)


def _check_table(table: str) -> None:
    if table not in TABLES:
        raise ConfigError(f"unknown output table {table!r}; expected one of {TABLES}")


def _check_name(name: str, what: str) -> None:
    if not _SAFE_NAME.match(name):
        raise ConfigError(f"{what} {name!r} must match {_SAFE_NAME.pattern}")


def _remove_dead_scratch(home: HomeLike) -> None:
    folder = Home.of(home).scratch
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        gone = run_owners.token_is_abandoned(path.name)
        if gone is None:  # named before owner tokens: judged by age
            gone = _older_than(path, STALE_SCRATCH_S)
        if gone:
            path.unlink(missing_ok=True)


def _staged_runs(home: HomeLike) -> list[Path]:
    folder = Home.of(home).staging
    return list(folder.glob("run_id=*")) if folder.is_dir() else []


def _remove_orphan_staging(home: HomeLike, running: set[str]) -> None:
    # A run killed after its `runs` row was rewritten, or before its first one, leaves a staging
    # folder no `running` row points at. `start_run` creates the folder a moment before it
    # writes `owner.json`, so a folder without one is removed only once it is old.
    for staging in _staged_runs(home):
        if staging.name.removeprefix("run_id=") in running:
            continue
        owner = staging / OWNER_FILE
        if owner.is_file() and run_owners.is_abandoned(owner):
            shutil.rmtree(staging, ignore_errors=True)
        elif not owner.exists() and _older_than(staging, STALE_SCRATCH_S):
            shutil.rmtree(staging, ignore_errors=True)


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return path.stat().st_mtime < time.time() - seconds
    except FileNotFoundError:  # removed meanwhile by its writer
        return False
