"""Load price rows into the warehouse: validate, keep the bad rows aside, upsert the rest.

One batch (a file or a source pull) is one transaction: its bookkeeping row in `ingest_batches`,
its rejected rows and its upsert into `prices` commit together or not at all. Loading is
set-based: the validated frame is registered with DuckDB and merged by the SQL in `sql/`.
Re-ingesting the same rows changes nothing; a different value for a stored (ticker, date) is a
correction and overwrites it. A row updates only the columns it carries: an absent column or an
empty cell means "unknown" and keeps the stored value, and the merged day is validated as a whole.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandera.errors as pa_errors
import polars as pl

from cae.errors import FileFormatError, ValidationError
from cae.warehouse import query_frame, run_sql, transaction
from cae.warehouse.schemas import RULE_MESSAGES, Prices
from cae.warehouse.sources import dropdir, files, sample, sp500_long, yfinance
from cae.warehouse.sources.coerce import PROBLEM, ROW_NUMBER, coerce_prices, shortened

__all__ = [
    "NAMED_SOURCES",
    "YFINANCE_PREFIX",
    "IngestReport",
    "ingest_dropdir",
    "ingest_file",
    "ingest_frame",
    "ingest_sample_tickers",
    "ingest_source",
    "ingest_tickers",
    "split_valid",
    "warehouse_status",
]

# `cae ingest yfinance:AAPL,MSFT` downloads those tickers (needs the `online` extra).
YFINANCE_PREFIX = "yfinance:"
# Sources named by a word rather than a path.
NAMED_SOURCES = ("sample", "sp500-long")
_INDEX = "_index"
_PRICE_COLUMNS = list(Prices.to_schema().columns)
# The stored columns a re-stated close or open is checked against (close_in_range,
# open_in_range). Every empty cell keeps its stored value (sql/prices_pending.sql): ingesting
# never erases a value, a different one corrects it; the close is required in every row.
_RANGE_COLUMNS = ("open", "high", "low")
# A day no source gave an adjusted close for: its close is taken as already adjusted.
_DEFAULT_ADJ_FACTOR = 1.0
_STORED_SUFFIX = "_stored"


def _utc_now() -> dt.datetime:
    # Naive UTC: the warehouse's timestamp columns carry no zone.
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class IngestReport:
    """What one batch did: rows read, newly stored, corrected, and rejected."""

    batch_id: int
    source: str
    file: str | None
    rows_in: int
    rows_new: int
    rows_changed: int
    rows_rejected: int


def _failure_reasons(frame: pl.DataFrame) -> pl.DataFrame:
    """Validate `frame` with `Prices` and return (index, reason) for every failing row."""
    try:
        Prices.validate(frame, lazy=True)
    except pa_errors.SchemaErrors as errors:
        cases = errors.failure_cases
    else:
        return pl.DataFrame(schema={_INDEX: pl.Int64, "reason": pl.Utf8})
    unmapped = cases.filter(pl.col("index").is_null())
    if unmapped.height:
        # Columns and dtypes are fixed by coerce_prices, so a frame-level failure is a bug.
        raise ValidationError(f"prices frame breaks the schema: {unmapped.to_dicts()}")
    templates = pl.DataFrame(
        {"check": list(RULE_MESSAGES), "template": list(RULE_MESSAGES.values())}
    )
    template = pl.coalesce("template", pl.lit("{column} failed"))
    reasons = cases.join(templates, on="check", how="left").select(
        pl.col("index").cast(pl.Int64).alias(_INDEX),
        pl.concat_str(
            pl.col("check"),
            pl.lit(": "),
            template.str.replace_all(
                "{column}", pl.col("column").fill_null(""), literal=True
            ).str.replace_all("{value}", pl.col("failure_case").fill_null(""), literal=True),
        ).alias("reason"),
    )
    # A row's reason lists each broken rule once, however often pandera reports it.
    return reasons.unique(maintain_order=True)


def _as_stored(con: duckdb.DuckDBPyConnection | None, parsed: pl.DataFrame) -> pl.DataFrame:
    """Return the rows as they would be stored, for validation: each (ticker, date) merged.

    Only a row without open, high or low needs the stored day: its close is checked against the
    stored range. Other empty cells are filled by `sql/prices_pending.sql` when the batch is
    merged, so a full file (most rows of most batches) is not joined twice. An empty adjustment
    factor validates as the 1.0 a new day gets.
    """
    partial = parsed.filter(pl.any_horizontal(pl.col(_RANGE_COLUMNS).is_null()))
    if con is not None and partial.height:
        con.register("incoming_keys", partial.select("ticker", "date"))
        try:
            stored = query_frame(con, "prices#stored")
        finally:
            con.unregister("incoming_keys")
        if stored.height:
            parsed = (
                parsed.join(
                    stored.select("ticker", "date", *_RANGE_COLUMNS),
                    on=["ticker", "date"],
                    how="left",
                    suffix=_STORED_SUFFIX,
                    maintain_order="left",
                )
                .with_columns(
                    pl.coalesce(c, f"{c}{_STORED_SUFFIX}").alias(c) for c in _RANGE_COLUMNS
                )
                .select(parsed.columns)
            )
    return parsed.with_columns(pl.col("adj_factor").fill_null(_DEFAULT_ADJ_FACTOR))


def split_valid(
    raw: pl.DataFrame,
    *,
    date_format: str | None = None,
    keep_ticker_case: bool = False,
    con: duckdb.DuckDBPyConnection | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split raw long rows into rows that pass `Prices` and rows that break a rule.

    Parameters
    ----------
    raw
        Long rows as a source yields them (see `cae.warehouse.sources.coerce.coerce_prices`).
    date_format
        strptime format of text dates; inferred when omitted.
    keep_ticker_case
        Keep tickers' letter case instead of upper-casing them.
    con
        The warehouse the rows go to. A row re-stating a stored day is validated merged onto
        it (its empty cells take the stored values). Without it every row stands alone.

    Returns
    -------
    tuple of pl.DataFrame
        The valid rows with the `Prices` columns as given (an empty cell stays null: the merge
        keeps the stored value, `sql/prices_pending.sql`), and the rejects as `row_number`,
        `raw` (the input row as JSON, text cells cut to `MAX_RAW_CELL_CHARS`) and `reason`
        (every rule the row broke, `"rule: message"`, joined by "; "). Every input row lands in
        exactly one of the two.
    """
    typed = coerce_prices(
        raw, date_format=date_format, keep_ticker_case=keep_ticker_case
    ).with_row_index(_INDEX)
    parsed = typed.filter(pl.col(PROBLEM).is_null())
    failures = _failure_reasons(_as_stored(con, parsed).drop(_INDEX))
    failures = failures.with_columns(parsed[_INDEX].gather(failures[_INDEX]).cast(pl.Int64))
    reasons = pl.concat(
        [
            typed.filter(pl.col(PROBLEM).is_not_null()).select(
                pl.col(_INDEX).cast(pl.Int64), pl.col(PROBLEM).alias("reason")
            ),
            failures,
        ]
    )
    if reasons.height == 0:
        empty = {ROW_NUMBER: pl.Int64, "raw": pl.Utf8, "reason": pl.Utf8}
        return parsed.select(_PRICE_COLUMNS), pl.DataFrame(schema=empty)
    by_row = reasons.group_by(_INDEX, maintain_order=True).agg(pl.col("reason").str.join("; "))
    valid = parsed.join(by_row, on=_INDEX, how="anti").select(_PRICE_COLUMNS)
    raw_json = (
        raw.with_row_index(_INDEX)
        .join(by_row, on=_INDEX, how="semi")
        .with_columns(shortened(pl.col(pl.Utf8)).name.keep())
        .select(
            pl.col(_INDEX).cast(pl.Int64),
            pl.struct(pl.all().exclude(_INDEX, ROW_NUMBER)).struct.json_encode().alias("raw"),
        )
    )
    rejects = (
        by_row.join(typed.select(_INDEX, ROW_NUMBER), on=_INDEX)
        .join(raw_json, on=_INDEX)
        .sort(_INDEX)
        .select(ROW_NUMBER, "raw", "reason")
    )
    return valid, rejects


def ingest_frame(
    con: duckdb.DuckDBPyConnection,
    frame: pl.DataFrame,
    *,
    source: str,
    file: str | None,
    sha256: str | None = None,
    date_format: str | None = None,
    keep_ticker_case: bool = False,
    rejected_lines: pl.DataFrame | None = None,
) -> IngestReport:
    """Validate long price rows and upsert the valid ones into `prices`, in one transaction.

    Rows that break a rule are stored in `rejected_rows` with the rule; the rest load. A row
    re-stating a stored (ticker, date) is merged onto it: its empty or absent columns keep the
    stored values, the merged day is validated, and it counts as changed only if a value
    differs. A failure anywhere leaves the warehouse as it was.

    Parameters
    ----------
    con
        A writable warehouse connection.
    frame
        Long rows: `ticker`, `date`, `close` and optionally `open`, `high`, `low`, `volume`
        (shares), `adj_close`, `shares_out`, `row_number` (1-based data row of the file).
    source
        Name of the source, stored with every row (`sample`, `files`, ...).
    file
        The file the rows came from, if any; recorded in `ingest_batches`.
    sha256
        Hash of that file; a drop folder uses it to ingest each file once.
    date_format
        strptime format of text dates; inferred when omitted.
    keep_ticker_case
        Keep tickers' letter case; by default `zza` and ` ZZA` both load as `ZZA`.
    rejected_lines
        Lines of the file rejected before they became rows (`row_number`, `raw`, `reason`,
        see `cae.warehouse.sources.files.read_price_rows`); stored with the batch's other rejects.

    Returns
    -------
    IngestReport
        The batch id and its row counts.
    """
    started_at = _utc_now()
    base = {"source": source, "file": file, "sha256": sha256, "started_at": started_at}
    with transaction(con):
        # Inside the transaction: the rows are merged onto the stored days they update.
        valid, rejects = split_valid(
            frame, date_format=date_format, keep_ticker_case=keep_ticker_case, con=con
        )
        rows_in = frame.height
        if rejected_lines is not None:
            rejects = pl.concat([rejected_lines, rejects]).sort(ROW_NUMBER, maintain_order=True)
            rows_in += rejected_lines.height
        batch_id = int(run_sql(con, "ingest_batches#start", base).fetchall()[0][0])
        params = {**base, "batch_id": batch_id}
        con.register("incoming_prices", valid)
        con.register("incoming_rejects", rejects)
        try:
            run_sql(con, "prices_pending")
            rows_changed = int(run_sql(con, "prices#update_changed", params).fetchall()[0][0])
            rows_new = int(run_sql(con, "prices#insert_new", params).fetchall()[0][0])
            run_sql(con, "prices#pending_drop")
            run_sql(con, "rejected_rows_insert", params)
        finally:
            con.unregister("incoming_prices")
            con.unregister("incoming_rejects")
        counts = {
            "rows_in": rows_in,
            "rows_new": rows_new,
            "rows_changed": rows_changed,
            "rows_rejected": rejects.height,
        }
        finish = {**params, **counts, "status": "ok", "finished_at": _utc_now()}
        run_sql(con, "ingest_batches#finish", finish)
    return IngestReport(batch_id=batch_id, source=source, file=file, **counts)


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: str | os.PathLike[str],
    *,
    options: files.FileOptions | None = None,
    source: str = "files",
    sha256: str | None = None,
) -> IngestReport:
    """Read one CSV or Parquet price file (long or wide) and ingest it as one batch.

    Lines the reader could not split into fields are rejected with the batch's other rows.
    `sha256` is the file's hash when the caller has it already.
    """
    options = options or files.FileOptions()
    frame, rejected_lines = files.read_price_rows(path, options)
    try:
        return ingest_frame(
            con,
            frame,
            source=source,
            file=str(path),
            sha256=sha256 or files.file_sha256(path),
            date_format=options.date_format,
            keep_ticker_case=options.keep_ticker_case,
            rejected_lines=rejected_lines,
        )
    except FileFormatError as error:
        # Dates are parsed (and may prove ambiguous) only here, where the file name is unknown.
        raise FileFormatError(f"{path}: {error}") from None


def ingest_tickers(con: duckdb.DuckDBPyConnection, tickers: pl.DataFrame, *, source: str) -> int:
    """Upsert ticker metadata (ticker, name, sector, industry) into `tickers`; return rows."""
    with transaction(con):
        con.register("incoming_tickers", tickers.select("ticker", "name", "sector", "industry"))
        try:
            run_sql(con, "tickers_upsert", {"source": source})
        finally:
            con.unregister("incoming_tickers")
    return tickers.height


def ingest_sample_tickers(con: duckdb.DuckDBPyConnection) -> int:
    """Load the sample's ticker metadata (name, sector, industry) into `tickers`; return rows."""
    return ingest_tickers(con, sample.read_sample_tickers(), source="sample")


def _unreadable(errors: list[FileFormatError], n_ingested: int, where: str) -> FileFormatError:
    """One error naming every unreadable file, or the error itself when it is the only news."""
    if len(errors) == 1 and n_ingested == 0:
        return errors[0]
    return FileFormatError(
        f"{len(errors)} unreadable file(s){where} ({n_ingested} other file(s) ingested): "
        + " | ".join(str(e) for e in errors)
    )


def _ingest_named(con: duckdb.DuckDBPyConnection, name: str) -> IngestReport:
    if name == "sample":
        ingest_sample_tickers(con)
        frame = sample.read_sample_prices()
        return ingest_frame(con, frame, source="sample", file=sample.PRICES_FILE)
    if name == "sp500-long":
        path = sp500_long.dataset_path()
        return ingest_frame(con, sp500_long.read_sp500_long(path), source=name, file=str(path))
    tickers = [t.strip() for t in name.removeprefix(YFINANCE_PREFIX).split(",") if t.strip()]
    return ingest_frame(con, yfinance.download(tickers), source="yfinance", file=None)


def ingest_source(
    con: duckdb.DuckDBPyConnection,
    spec: str | Sequence[str],
    *,
    options: files.FileOptions | None = None,
    on_file: Callable[[str], None] | None = None,
) -> list[IngestReport]:
    """Ingest a named source (`sample`, `sp500-long`, `yfinance:T1,T2`) or CSV/Parquet paths/globs.

    `sample` also loads the `tickers` table. Each file is its own batch and transaction. Paths
    are resolved before anything loads, so a missing file stops the command early. An unreadable
    file does not stop the others: they load, then `FileFormatError` names it. `on_file`, if
    given, is called with each source or file name before it loads (for progress display).
    """
    specs = [spec] if isinstance(spec, str) else list(spec)
    plan: list[str | Path] = []
    for item in specs:
        if item in NAMED_SOURCES or item.startswith(YFINANCE_PREFIX):
            plan.append(item)
        else:
            plan.extend(files.expand_paths([item]))
    reports, unreadable = [], []
    for item in plan:
        if on_file:
            on_file(str(item))
        if isinstance(item, str):
            reports.append(_ingest_named(con, item))
            continue
        try:
            reports.append(ingest_file(con, item, options=options))
        except FileFormatError as error:
            unreadable.append(error)
    if unreadable:
        raise _unreadable(unreadable, len(reports), "")
    return reports


def ingest_dropdir(
    con: duckdb.DuckDBPyConnection,
    folder: str | os.PathLike[str],
    *,
    options: files.FileOptions | None = None,
    min_age_seconds: float = dropdir.MIN_AGE_SECONDS,
    on_file: Callable[[str], None] | None = None,
) -> list[IngestReport]:
    """Ingest every settled file in a landing folder whose content has not been ingested yet.

    A file counts as new when its sha256 is not in `ingest_batches` with status `ok`, so an
    edited file is ingested again (its changed rows count as corrections) and an unchanged one
    is skipped. Half-written files (`.tmp`, `.part`, or modified within `min_age_seconds`) wait.
    An unreadable file does not stop the others: they load, then `FileFormatError` names it.
    """
    seen = {row[0] for row in run_sql(con, "ingest_batches#seen").fetchall()}
    reports, unreadable = [], []
    for path, sha256 in dropdir.pending_files(Path(folder), seen, min_age_seconds=min_age_seconds):
        if on_file:
            on_file(str(path))
        try:
            reports.append(ingest_file(con, path, options=options, source="dropdir", sha256=sha256))
        except FileFormatError as error:
            # One unreadable file must not hold back the others; it is retried next pass.
            unreadable.append(error)
            continue
        seen.add(sha256)
    if unreadable:
        raise _unreadable(unreadable, len(reports), f" in {folder}")
    return reports


def warehouse_status(
    con: duckdb.DuckDBPyConnection, *, last_batches: int = 10
) -> dict[str, pl.DataFrame]:
    """Return the warehouse's status as small frames: `prices`, `batches`, `rejects`.

    `prices` is one row (rows, tickers, first and last date, tickers with metadata), `batches`
    the most recent `last_batches` batches, `rejects` the rejected rows counted by rule.
    """
    return {
        "prices": query_frame(con, "status_prices"),
        "batches": query_frame(con, "status_batches", {"limit": last_batches}),
        "rejects": query_frame(con, "status_rejects"),
    }
