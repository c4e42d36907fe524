"""Price files a user brings: CSV or Parquet, long or wide, by paths or globs.

Long files hold one row per ticker and date; wide files a date column and one close column per
ticker. A column mapping and a date format cover other conventions.

A file that cannot be read at all raises `FileFormatError` naming the file and what was expected;
bad values inside a readable file are left for validation, which rejects their rows.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from cae.errors import FileFormatError
from cae.sources.coerce import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, ROW_NUMBER

__all__ = [
    "EXPECTED",
    "FileOptions",
    "expand_paths",
    "file_sha256",
    "is_price_file",
    "read_price_file",
    "read_table",
    "to_long",
]

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".txt", ".csv.gz")
# Header names that mean the same column, after lower-casing and `_` for spaces and dashes.
COLUMN_ALIASES = {
    "symbol": "ticker",
    "adjclose": "adj_close",
    "adjusted_close": "adj_close",
    "shares_outstanding": "shares_out",
}
EXPECTED = (
    "expected a CSV (UTF-8, header row) or Parquet file in long format with columns "
    f"{', '.join(REQUIRED_COLUMNS)} (optional {', '.join(OPTIONAL_COLUMNS)}) or wide format "
    "with a date column and one close column per ticker"
)
# Bytes read to tell a text file from a binary one.
_SNIFF_BYTES = 8192
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileOptions:
    """How to read price files that do not use cae's own column names."""

    # Source header -> cae column, e.g. {"Symbol": "ticker", "Last": "close"}.
    columns: Mapping[str, str] = field(default_factory=dict)
    # strptime format of the date column; None infers it from the values.
    date_format: str | None = None
    # "long": one row per ticker and date; "wide": a date column plus one close column per
    # ticker; "auto": long if a ticker column exists, else wide.
    layout: Literal["auto", "long", "wide"] = "auto"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def expand_paths(specs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Return the files named by paths, folders and globs, in order, each once.

    A folder stands for the CSV and Parquet files directly inside it. Raises `FileFormatError`
    for a path that does not exist or a glob or folder that holds no such file.
    """
    found: dict[Path, None] = {}
    for spec in specs:
        text = str(spec)
        # An existing file is taken as named, even if its name has glob characters ([, *, ?).
        is_pattern = glob.has_magic(text) and not Path(text).is_file()
        matches = sorted(glob.glob(text, recursive=True)) if is_pattern else [text]
        if Path(text).is_dir():
            matches = sorted(str(p) for p in Path(text).iterdir() if is_price_file(p))
        paths = [Path(m) for m in matches if Path(m).is_file()]
        if not paths:
            raise FileFormatError(f"{text}: no such file (or the pattern matches no file)")
        found.update(dict.fromkeys(paths))
    return list(found)


def is_price_file(path: Path) -> bool:
    """Tell whether a file's name marks it as a CSV or Parquet price file."""
    return path.is_file() and path.name.lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES)


def _is_parquet(path: Path, head: bytes) -> bool:
    return path.name.lower().endswith(PARQUET_SUFFIXES) or head.startswith(b"PAR1")


def read_table(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read a CSV (all columns as text) or Parquet file as it is, with its own headers.

    Raises `FileFormatError` when the file is empty, binary, unparsable or has no data rows.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if not head.strip():
        raise FileFormatError(f"{path}: the file is empty; {EXPECTED}")
    if _is_parquet(path, head):
        try:
            table = pl.read_parquet(path)
        except Exception as error:  # polars raises several kinds for a corrupt file
            raise FileFormatError(
                f"{path}: not a readable Parquet file ({error}); {EXPECTED}"
            ) from None
    else:
        data = path.read_bytes()
        if path.name.lower().endswith(".gz") or data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as error:
                raise FileFormatError(
                    f"{path}: not a readable gzip file ({error}); {EXPECTED}"
                ) from None
        if b"\x00" in data[:_SNIFF_BYTES]:
            raise FileFormatError(f"{path}: binary content, not a text CSV; {EXPECTED}")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise FileFormatError(
                f"{path}: not UTF-8 text (byte {error.start}); {EXPECTED}"
            ) from None
        try:
            names = _header_names(data)
            _refuse_duplicates(names, names, str(path))
            table = pl.read_csv(data, infer_schema=False, truncate_ragged_lines=False)
        except pl.exceptions.PolarsError as error:
            first_line = str(error).splitlines()[0]
            raise FileFormatError(
                f"{path}: not a readable CSV ({first_line}); {EXPECTED}"
            ) from None
    if table.height == 0:
        raise FileFormatError(f"{path}: a header but no data rows; {EXPECTED}")
    return table


def _header_names(data: bytes) -> list[str]:
    """Return a CSV's header names as written: polars renames a repeated name on its own."""
    return list(pl.read_csv(data, has_header=False, n_rows=1, infer_schema=False).row(0))


def _refuse_duplicates(original: Sequence[str], names: Sequence[str], name: str) -> None:
    """Raise naming a column that two headers share, so that neither is renamed or dropped."""
    seen: dict[str, str] = {}
    for written, key in zip(original, names, strict=True):
        if key in seen:
            raise FileFormatError(
                f"{name}: column {key!r} appears twice in the header (as {seen[key]!r} and "
                f"{written!r}); rename or remove one; {EXPECTED}"
            )
        seen[key] = written


def _is_flat(dtype: pl.DataType) -> bool:
    return (
        dtype.is_numeric()
        or dtype.is_temporal()
        or dtype in (pl.String, pl.Boolean, pl.Null, pl.Categorical, pl.Enum)
    )


def _refuse_nested(table: pl.DataFrame, columns: Sequence[str], name: str) -> None:
    """Raise naming a used column whose cells are lists, structs or bytes, not one value each."""
    for column in columns:
        dtype = table.schema[column]
        if not _is_flat(dtype):
            raise FileFormatError(
                f"{name}: column {column!r} has type {dtype}; expected text, numbers or dates"
            )


def _normalise(name: str) -> str:
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    return COLUMN_ALIASES.get(key, key)


def to_long(table: pl.DataFrame, options: FileOptions, *, name: str = "frame") -> pl.DataFrame:
    """Return a file's table as raw long rows with `row_number` (1-based data row).

    Long tables keep one row per input row. Wide tables (a date column plus one close column per
    ticker) become one row per non-empty cell; their `row_number` is the date's data row.
    """
    renamed = [options.columns.get(c, c) for c in table.columns]
    _refuse_duplicates(table.columns, [_normalise(c) for c in renamed], name)
    table = table.rename(dict(zip(table.columns, renamed, strict=True)))
    # The file's own row counter, if it has one, gives way to cae's.
    table = table.drop(ROW_NUMBER, strict=False).with_row_index(ROW_NUMBER, offset=1)
    canonical = {c: _normalise(c) for c in table.columns if c != ROW_NUMBER}
    layout = options.layout
    if layout == "auto":
        layout = "long" if "ticker" in canonical.values() else "wide"
    if layout == "long":
        known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
        keep = {c: k for c, k in canonical.items() if k in known}
        missing = [k for k in REQUIRED_COLUMNS if k not in keep.values()]
        if missing:
            raise FileFormatError(
                f"{name}: missing required column(s) {', '.join(missing)} "
                f"(found {', '.join(table.columns[1:])}); {EXPECTED}"
            )
        _refuse_nested(table, list(keep), name)
        return table.select(ROW_NUMBER, *(pl.col(c).alias(k) for c, k in keep.items()))
    dates = [c for c, k in canonical.items() if k == "date"]
    tickers = [c for c, k in canonical.items() if k != "date"]
    if len(dates) != 1 or not tickers:
        raise FileFormatError(
            f"{name}: no ticker column and not a wide table of closes "
            f"(found {', '.join(table.columns[1:])}); {EXPECTED}"
        )
    _refuse_nested(table, [*dates, *tickers], name)
    long = table.unpivot(
        index=[ROW_NUMBER, dates[0]], on=tickers, variable_name="ticker", value_name="close"
    ).rename({dates[0]: "date"})
    # A wide table marks the dates before a listing or after a delisting with empty cells.
    close = pl.col("close").cast(pl.Utf8).str.strip_chars()
    return long.filter(close.is_not_null() & (close != "")).sort(ROW_NUMBER, maintain_order=True)


def read_price_file(
    path: str | os.PathLike[str], options: FileOptions | None = None
) -> pl.DataFrame:
    """Read one CSV or Parquet price file into raw long rows (see `to_long`)."""
    return to_long(read_table(path), options or FileOptions(), name=str(path))
