"""Bring your own panel: load a user's characteristics file as `characteristics_own_<freq>`.

A user's panel has a table of its own (key own_<freq>, `cae.panel.frequency.OWN_PREFIX`), so the
panel cae builds from prices at the same frequency never replaces it (nor it the built one).

Each rule a file can break is reported as one line naming the file, where (a CSV's line, the
header being line 1, counted in the file's own order; a Parquet file's 1-based row), the value
as written and the rule. A refused file changes nothing. A good file replaces the panel at its
frequency in one transaction; the replaced panel is kept as
`characteristics_own_<freq>_previous` (its `panel_meta` row in `panel_meta_previous`) until the
next replacement, and `restore_panel` swaps the two back.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from cae.errors import DataError, FileFormatError, PanelError
from cae.panel import proxy_sources as panel_sources
from cae.panel import store
from cae.panel.frequency import own_panel_key
from cae.warehouse import published, transaction
from cae.warehouse.schemas import (
    FUTURE_DATE_SLACK_DAYS,
    MIN_DATE,
    PANEL_KEY_COLUMNS,
    PANEL_MAX_ABS_RETURN,
)
from cae.warehouse.sources import files

__all__ = [
    "MIN_PANEL_DATES",
    "RESERVED_COLUMNS",
    "USER_SOURCE_PREFIX",
    "PanelSize",
    "adopt_user_panel",
    "ingest_panel",
    "keep_previous",
    "restore_panel",
]

# One date gives no ret_fwd (the next date's ret): nothing for a model to fit or score.
MIN_PANEL_DATES = 2
FILE_LINE = store.FILE_LINE
# Columns cae adds to a stored panel, with why a user's column may not take the name.
RESERVED_COLUMNS = {
    "is_in_universe": "cae marks the rows of the universe with it",
    FILE_LINE: "cae numbers the file's lines with it",
}
REQUIRED_COLUMNS = ("date", "ticker", "ret")
# `panel_meta.source` of a user's panel: file:<the path it was loaded from>.
USER_SOURCE_PREFIX = "file:"
EXPECTED = (
    "expected a CSV (UTF-8, comma-separated, header row) or Parquet file with columns "
    "date (YYYY-MM-DD or YYYYMMDD), ticker, ret, optional ret_fwd, and one numeric column per "
    "characteristic"
)
# Header names shown in a message; a wide file's full header would not fit on a line.
_SHOWN_NAMES = 8


@dataclass(frozen=True)
class PanelSize:
    """How big a stored panel is, as told to the user when it is loaded, replaced or restored."""

    n_rows: int
    n_dates: int

    def __str__(self) -> str:
        return f"{self.n_rows:,} rows over {self.n_dates} dates"


@dataclass(frozen=True)
class _UserFile:
    """A user's file as written (a CSV's cells as text), each row with its FILE_LINE."""

    path: Path
    cells: pl.DataFrame
    unit: str  # "line" (CSV) or "row" (Parquet)

    def check(self, bad: pl.Series, column: str, why: str, rule: str) -> None:
        """Raise a `DataError` naming the first row where `bad` holds and its raw `column`."""
        if not bad.any():
            return
        first = int(bad.arg_true()[0])
        raw = self.cells[column][first]
        shown = repr("" if raw is None else raw)
        n_more = int(bad.sum()) - 1
        more = f"; {n_more} more {self.unit}(s) break this rule" if n_more else ""
        raise DataError(
            f"{self.path}: {self.where(first)}: {column} {shown} {why} (rule {rule}){more}"
        )

    def where(self, index: int) -> str:
        """Return "line N" or "row N" for the row at `index` of `cells`."""
        return f"{self.unit} {self.cells[FILE_LINE][index]}"


def _shown(names: list[str]) -> str:
    extra = len(names) - _SHOWN_NAMES
    return ", ".join(names[:_SHOWN_NAMES]) + (f" and {extra} more" if extra > 0 else "")


@contextmanager
def _csv_rows(path: Path) -> Iterator[Any]:
    """Read a (maybe gzipped) CSV's fields as written: polars renames and pads what it reads."""
    with open(path, "rb") as handle:
        is_gzip = handle.read(2) == b"\x1f\x8b"
    opener = gzip.open if is_gzip else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        yield csv.reader(handle)


def _csv_header(path: Path) -> list[str]:
    with _csv_rows(path) as rows:
        return next(rows, [])


def _check_field_counts(path: Path) -> None:
    """Raise naming the first line whose field count is not the header's.

    polars reads a short line as missing values and refuses a long one without its line.
    """
    with _csv_rows(path) as rows:
        width = len(next(rows, []))
        first_line = rows.line_num + 1  # a quoted field may span lines: name where it starts
        for fields in rows:
            if fields and len(fields) != width:
                raise FileFormatError(
                    f"{path}: line {first_line}: {len(fields)} fields where the header has "
                    f"{width} (rule field_count)"
                )
            first_line = rows.line_num + 1


def _check_header(path: Path, header: list[str]) -> None:
    where = f"{path}: line 1"
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        key = name.lower()  # DuckDB column names ignore case
        if not name.strip():
            raise FileFormatError(f"{where}: column {position} has no name (rule column_name)")
        if key in seen:
            raise FileFormatError(
                f"{where}: column {name!r} appears twice in the header (names ignore case) "
                "(rule duplicate_column)"
            )
        if key in RESERVED_COLUMNS:
            raise FileFormatError(
                f"{where}: column {name!r} is reserved: {RESERVED_COLUMNS[key]}; rename it "
                "(rule reserved_column)"
            )
        seen.add(key)
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        hint = " (cae reads comma-separated files)" if len(header) == 1 else ""
        raise FileFormatError(
            f"{where}: missing required column(s) {', '.join(missing)}, found "
            f"{_shown(header)}{hint} (rule required_columns); {EXPECTED}"
        )
    if not [c for c in header if c not in PANEL_KEY_COLUMNS]:
        raise PanelError(
            f"{where}: no characteristic column besides {', '.join(header)} "
            "(rule no_characteristics)"
        )


def _read_table(path: Path, is_parquet: bool) -> pl.DataFrame:
    try:
        table, longer_lines = files.read_table(path)
    except FileFormatError as error:
        if not is_parquet:
            # Name the line when a ragged one is the cause; else the reader's message stands.
            with suppress(UnicodeDecodeError, EOFError, OSError, csv.Error):
                _check_field_counts(path)
        # The price reader's checks fit a panel; its closing hint names the price columns.
        raise FileFormatError(str(error).replace(files.EXPECTED, EXPECTED)) from None
    if longer_lines.height:
        _check_field_counts(path)  # a panel is all or nothing: name the first ragged line
    return table


def _renamed(path: Path, header: list[str], columns: Mapping[str, str]) -> list[str]:
    """Return the header with `--map SOURCE=COLUMN` applied; raise naming a SOURCE not in it."""
    missing = [source for source in columns if source not in header]
    if missing:
        raise FileFormatError(
            f"{path}: line 1: --map {missing[0]}=...: no column {missing[0]!r} in the header, "
            f"found {_shown(header)} (rule map_column)"
        )
    return [columns.get(name, name) for name in header]


def _read_user_file(path: Path, columns: Mapping[str, str]) -> _UserFile:
    try:
        is_parquet = files.is_parquet(path)
        cells = _read_table(path, is_parquet)
        header = None if is_parquet else _csv_header(path)
    except OSError as error:
        raise FileFormatError(f"{path}: cannot read the file ({error.strerror})") from None
    names = _renamed(path, cells.columns if header is None else header, columns)
    _check_header(path, names)
    for name, dtype in cells.schema.items():
        if dtype.is_nested() or dtype == pl.Binary:
            raise FileFormatError(
                f"{path}: column {name!r} holds {dtype} values; a panel cell holds one number, "
                "date or ticker (rule column_type)"
            )
    if header is None:
        cells.columns = names
        return _UserFile(path, cells.with_row_index(FILE_LINE, offset=1), "row")
    if cells[cells.columns[-1]].has_nulls():  # a short line, or only an empty last cell
        _check_field_counts(path)
    if len(header) == cells.width:
        cells.columns = names  # polars keeps the doubled quotes of a quoted name ("a""b")
    blank = pl.all_horizontal(pl.all().exclude(FILE_LINE).is_null())  # a trailing one, often
    return _UserFile(path, cells.with_row_index(FILE_LINE, offset=2).filter(~blank), "line")


def _text(column: pl.Series) -> pl.Series:
    return column.cast(pl.Utf8).str.strip_chars()


def _numbers(user: _UserFile, name: str) -> pl.Series:
    raw = user.cells[name]
    if raw.dtype.is_numeric():
        values = raw.cast(pl.Float64)
    else:
        text = _text(raw)
        values = text.cast(pl.Float64, strict=False)
        user.check(values.is_null() & (text != ""), name, "is not a number", "number")
    user.check(values.is_infinite(), name, "is not finite", "finite")
    if name in ("ret", "ret_fwd"):
        beyond = values.abs() > PANEL_MAX_ABS_RETURN
        why = f"is beyond PANEL_MAX_ABS_RETURN={PANEL_MAX_ABS_RETURN:g} (1000% in one period)"
        user.check(beyond.fill_null(False), name, why, "ret_range")
    return values.fill_nan(None)  # NaN marks a missing value, like an empty cell


def _dates(user: _UserFile) -> pl.Series:
    raw = user.cells["date"]
    if raw.dtype == pl.Date:
        dates = raw
    elif isinstance(raw.dtype, pl.Datetime):
        dates = raw.dt.date()
    else:
        text = _text(raw)
        # ISO dates, or the GKX / Open Source Asset Pricing integer form 19570131.
        iso = text.str.to_date("%Y-%m-%d", strict=False)
        dates = iso.fill_null(text.str.to_date("%Y%m%d", strict=False))
    user.check(dates.is_null(), "date", "is not a date (YYYY-MM-DD or YYYYMMDD)", "date")
    user.check(dates < MIN_DATE, "date", f"is before {MIN_DATE}", "date_after_min")
    latest = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=FUTURE_DATE_SLACK_DAYS)
    user.check(dates > latest, "date", "is in the future", "date_not_future")
    return dates


def _tickers(user: _UserFile) -> pl.Series:
    tickers = user.cells["ticker"].cast(pl.Utf8)
    empty = tickers.is_null() | (tickers.str.strip_chars() == "")
    user.check(empty, "ticker", "is empty", "ticker_nonempty")
    return tickers


def _check_unique(user: _UserFile, panel: pl.DataFrame) -> None:
    first = pl.col(FILE_LINE).min().over("date", "ticker")
    repeats = panel.with_columns(first.alias("first")).filter(pl.col(FILE_LINE) != first)
    if repeats.height:
        row = repeats.sort(FILE_LINE).row(0, named=True)
        raise DataError(
            f"{user.path}: {user.unit} {row[FILE_LINE]}: (date, ticker) = ({row['date']}, "
            f"{row['ticker']!r}) repeats {user.unit} {row['first']} (rule unique)"
        )


def _check_dates(user: _UserFile, panel: pl.DataFrame) -> None:
    dates = panel["date"].unique().sort()
    if dates.len() < MIN_PANEL_DATES:
        listed = f"{dates.len()} {'date' if dates.len() == 1 else 'dates'}"
        if dates.len():
            listed += f" ({', '.join(map(str, dates))})"
        raise PanelError(
            f"{user.path}: {listed}; a panel needs at least "
            f"MIN_PANEL_DATES={MIN_PANEL_DATES} dates (rule min_dates)"
        )


def _with_ret_fwd(panel: pl.DataFrame) -> pl.DataFrame:
    """Add ret_fwd: the ticker's ret at the file's next date (null when it has no row there)."""
    if "ret_fwd" in panel.columns:
        return panel
    calendar = panel.select(pl.col("date").unique().sort())
    calendar = calendar.with_columns(pl.col("date").shift(-1).alias("next_date"))
    forward = panel.select(
        "ticker", pl.col("date").alias("next_date"), pl.col("ret").alias("ret_fwd")
    )
    return panel.join(calendar, on="date").join(forward, on=["ticker", "next_date"], how="left")


def _user_panel(user: _UserFile) -> tuple[pl.DataFrame, list[str]]:
    """Return the typed panel, in file order with FILE_LINE, and its characteristic names."""
    names = [c for c in user.cells.columns if c not in (*PANEL_KEY_COLUMNS, FILE_LINE)]
    values = [c for c in ("ret", "ret_fwd", *names) if c in user.cells.columns]
    panel = pl.DataFrame(
        {
            FILE_LINE: user.cells[FILE_LINE],
            "date": _dates(user),
            "ticker": _tickers(user),
            **{name: _numbers(user, name) for name in values},
        }
    )
    _check_unique(user, panel)
    _check_dates(user, panel)
    return panel, names


def _size(con: duckdb.DuckDBPyConnection, freq: str) -> PanelSize:
    row = store.query(con, "characteristics#size", freq).row(0, named=True)
    return PanelSize(row["n_rows"], row["n_dates"])


def keep_previous(con: duckdb.DuckDBPyConnection, freq: str) -> PanelSize:
    """Move the panel at `freq` aside as `characteristics_<freq>_previous`; return its size.

    Its `panel_meta` row and source counts go to the `_previous` tables, replacing the ones
    kept before. Call it inside the transaction that writes the new panel.
    """
    size = _size(con, freq)
    store.execute(con, "characteristics#keep_previous", freq)
    _mark_both(con, freq)
    store.execute(con, "panel_meta#keep_previous", freq, {"freq": freq})
    panel_sources.keep_previous_sources(con, freq)
    return size


def _mark_both(con: duckdb.DuckDBPyConnection, freq: str) -> None:
    """Have the panel at `freq` and its previous one republished whole (their rows moved)."""
    published.mark(con, f"characteristics_{freq}")
    published.mark(con, f"characteristics_{freq}_previous")


def adopt_user_panel(con: duckdb.DuckDBPyConnection, freq: str) -> str | None:
    """Move a user's panel stored as `characteristics_<freq>` to its own table; return where.

    Homes from before own tables kept a user's panel where a build from prices replaces it.
    It moves to `characteristics_own_<freq>` when that is free, else it is kept as
    `characteristics_<freq>_previous`. Returns the table it went to, None when `freq` held no
    user's panel. Call it inside a transaction.
    """
    meta = store.read_meta(con, freq)
    if meta is None or not meta["source"].startswith(USER_SOURCE_PREFIX):
        return None
    if not store.table_exists(con, freq):
        return None
    own = own_panel_key(freq)
    if store.table_exists(con, own):
        keep_previous(con, freq)
        return f"characteristics_{freq}_previous"
    store.execute(con, "characteristics#adopt_user_panel", freq, {"freq": freq})
    published.mark(con, f"characteristics_{own}")
    return f"characteristics_{own}"


def ingest_panel(
    con: duckdb.DuckDBPyConnection,
    file: str | os.PathLike[str],
    freq: str = "monthly",
    columns: Mapping[str, str] | None = None,
) -> tuple[PanelSize, PanelSize | None]:
    """Load a user's own characteristics panel (CSV or Parquet) as `characteristics_own_<freq>`.

    Required columns: date, ticker, ret; optional ret_fwd (else the ticker's ret at the file's
    next date); every other column is a characteristic and must be numeric (an empty or NaN
    cell is a missing value). `columns` renames the file's columns first (GKX's permno=ticker,
    DATE=date). Validated like a computed panel; it replaces the user's panel at `freq`, which
    is kept as `characteristics_own_<freq>_previous`. Returns the sizes of the loaded panel and
    of the one it replaced (None if there was none).
    """
    key = own_panel_key(freq)
    user = _read_user_file(Path(file), columns or {})
    panel, names = _user_panel(user)
    columns_out = (*PANEL_KEY_COLUMNS, pl.lit(True).alias("is_in_universe"), *names)
    checked = _with_ret_fwd(panel).select(FILE_LINE, *columns_out).sort("date", "ticker")
    stored = store.validate_panel(checked, source=str(user.path)).drop(FILE_LINE)
    replaced = None
    with transaction(con):
        if store.table_exists(con, key):
            replaced = keep_previous(con, key)
        con.from_arrow(stored.to_arrow()).create(f"characteristics_{key}")
        published.mark(con, f"characteristics_{key}")
        store.write_meta(con, key, f"{USER_SOURCE_PREFIX}{user.path}", names, None)
        panel_sources.clear_sources(con, key, None)  # a user's panel has no source counts
    return PanelSize(stored.height, stored["date"].n_unique()), replaced


def restore_panel(con: duckdb.DuckDBPyConnection, freq: str) -> tuple[dict, PanelSize, PanelSize]:
    """Swap the user's panel at `freq` with the one its last ingest replaced, in one transaction.

    The current panel becomes the previous one, so a second restore undoes the first. Returns
    the restored panel's `panel_meta` row, its size and the size of the panel it swapped out.
    """
    key = own_panel_key(freq)
    previous = store.query(con, "panel_meta#previous_read", key, {"freq": key})
    if not previous.height or not store.table_exists(con, key, previous=True):
        raise PanelError(
            f"no replaced panel at {freq} to restore: `cae ingest-panel` keeps the panel it "
            "replaces until the next replacement"
        )
    with transaction(con):
        swapped_out = _size(con, key)
        store.execute(con, "characteristics#swap_previous", key)
        _mark_both(con, key)
        store.execute(con, "panel_meta#keep_previous", key, {"freq": key})
        con.register("restoring_meta", previous)
        try:
            store.execute(con, "panel_meta#restore", key)
        finally:
            con.unregister("restoring_meta")
        panel_sources.swap_previous_sources(con, key)
        restored = _size(con, key)
    return previous.row(0, named=True), restored, swapped_out
