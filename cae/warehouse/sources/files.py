"""Price files a user brings: CSV or Parquet, long or wide, by paths or globs.

Long files hold one row per ticker and date; wide files a date column and one close column per
ticker. A column mapping and a date format cover other conventions.

A file that cannot be read at all raises `FileFormatError` naming the file and what was expected:
not UTF-8, over a size limit, a header naming a column twice, a column of lists. A CSV line with
more fields than the header is rejected alone; bad values inside a readable file are left for
validation, which rejects their rows.
"""

from __future__ import annotations

import codecs
import glob
import gzip
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from cae.errors import FileFormatError
from cae.warehouse.sources.coerce import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, ROW_NUMBER, shortened

__all__ = [
    "EXPECTED",
    "FileOptions",
    "expand_paths",
    "file_sha256",
    "is_parquet",
    "is_price_file",
    "read_price_file",
    "read_price_rows",
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
# Columns in one file. Every US common stock listed since 1925 is some 30,000 tickers, so a
# wide file of all of them fits; polars' cost grows with the count (100,000 columns of 28 rows
# read in 1.4 s), and a file of 10 million columns exhausted memory before any error was raised.
MAX_COLUMNS = 50_000
# Bytes in one field. A ticker, date or number takes tens of bytes; a field of a mebibyte is a
# quote left open that swallowed the lines after it, or not a price file at all.
MAX_FIELD_BYTES = 1 << 20
# Separators taken instead of a comma when the header line has none (tab or semicolon exports).
OTHER_SEPARATORS = ("\t", ";")
# Bytes read to tell a text file from a binary one.
_SNIFF_BYTES = 8192
_HASH_CHUNK = 1 << 20
# How polars words a line with more fields than the header.
_MORE_FIELDS = "found more fields than defined"
_NO_REJECTS = pl.DataFrame(schema={ROW_NUMBER: pl.Int64, "raw": pl.Utf8, "reason": pl.Utf8})


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
    # Keep tickers' letter case; by default they are upper-cased, so `zza` and `ZZA` are one.
    keep_ticker_case: bool = False


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
    for a path that does not exist, a glob that matches no file or a folder that holds none.
    """
    found: dict[Path, None] = {}
    for spec in specs:
        text = str(spec)
        # An existing file is taken as named, even if its name has glob characters ([, *, ?).
        is_pattern = glob.has_magic(text) and not Path(text).is_file()
        matches = sorted(glob.glob(text, recursive=True)) if is_pattern else [text]
        if Path(text).is_dir():
            matches = sorted(str(p) for p in Path(text).iterdir() if is_price_file(p))
            if not matches:
                raise FileFormatError(
                    f"{text}: folder holds no .csv/.parquet files "
                    f"(names ending {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)})"
                )
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


def is_parquet(path: Path) -> bool:
    """Tell a Parquet file by its name or its magic bytes (anything else is read as CSV)."""
    with open(path, "rb") as handle:
        return _is_parquet(path, handle.read(len(b"PAR1")))


def read_table(path: str | os.PathLike[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read a CSV (all columns as text) or Parquet file as it is, with its own headers.

    Returns the table and the CSV lines rejected while splitting it into fields (`row_number`,
    `raw`, `reason`): a line with more fields than the header is rejected under rule
    `field_count` and stays in the table cut to the header's width, for `to_long` to drop by its
    row number. A line with fewer fields reads its missing trailing cells as empty.

    Raises `FileFormatError` when the file is empty, binary, not UTF-8, unparsable, over a limit
    (`MAX_COLUMNS`, `MAX_FIELD_BYTES`) or has no data rows.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if not head.strip():
        raise FileFormatError(f"{path}: the file is empty; {EXPECTED}")
    if _is_parquet(path, head):
        table, rejects = _read_parquet(path), _NO_REJECTS
    else:
        table, rejects = _read_csv(path)
    if table.height == 0:
        raise FileFormatError(f"{path}: a header but no data rows; {EXPECTED}")
    _refuse_long_fields(table, path)
    return table, rejects


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        n_columns = len(pl.read_parquet_schema(path))
        if n_columns <= MAX_COLUMNS:
            return pl.read_parquet(path)
    except Exception as error:  # polars raises several kinds for a corrupt file
        raise FileFormatError(
            f"{path}: not a readable Parquet file ({_first_line(error)}); {EXPECTED}"
        ) from None
    raise _too_many_columns(path, n_columns)


def _too_many_columns(path: Path, n_columns: int) -> FileFormatError:
    return FileFormatError(
        f"{path}: {n_columns:,} columns, over MAX_COLUMNS={MAX_COLUMNS:,}; split the file"
    )


def _read_csv(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    data = path.read_bytes()
    if path.name.lower().endswith(".gz") or data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise FileFormatError(
                f"{path}: not a readable gzip file ({error}); {EXPECTED}"
            ) from None
    _refuse_non_utf8(path, data)
    newline = data.find(b"\n")
    header_line = data if newline < 0 else data[:newline]
    separator = _separator(header_line)
    # Counted on the raw line, before polars allocates a column for each name.
    n_columns = header_line.count(separator.encode()) + 1
    if n_columns > MAX_COLUMNS:
        raise _too_many_columns(path, n_columns)
    try:
        names = _header_names(data, separator)
        _refuse_duplicates(names, names, str(path))
        return _parse_csv(data, separator)
    except pl.exceptions.PolarsError as error:
        raise FileFormatError(
            f"{path}: not a readable CSV ({_csv_problem(error)}); {EXPECTED}"
        ) from None


def _csv_problem(error: pl.exceptions.PolarsError) -> str:
    """Say what polars could not parse in one short line; its message quotes the whole field."""
    unclosed = re.search(r"Field `(.{0,40})[^`]*` is not properly escaped", str(error), re.DOTALL)
    if unclosed:
        start = unclosed.group(1).split("\n")[0]
        return f"a quote is never closed, in the field that starts {start!r}"
    return _first_line(error)


def _refuse_non_utf8(path: Path, data: bytes) -> None:
    head = data[:_SNIFF_BYTES]
    encoding = _utf16(head)
    if encoding:
        raise FileFormatError(
            f"{path}: UTF-16 text; cae reads UTF-8: convert it first, e.g. "
            f"iconv -f {encoding} -t UTF-8 {path} > {path.stem}-utf8.csv"
        )
    if b"\x00" in head:
        raise FileFormatError(f"{path}: binary content, not a text CSV; {EXPECTED}")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise FileFormatError(
            f"{path}: not UTF-8 text (line {line}, byte {error.start}: "
            f"{data[error.start : error.start + 1]!r}); convert it first, e.g. "
            f"iconv -f LATIN1 -t UTF-8 {path} > {path.stem}-utf8.csv"
        ) from None


def _utf16(head: bytes) -> str | None:
    """Return the iconv name of the UTF-16 flavour `head` is written in, or None."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16"
    # Without a byte order mark, ASCII text in UTF-16 has a NUL in every other byte.
    even, odd = head[0::2], head[1::2]
    if len(head) >= 4 and any(even) and not any(odd):
        return "UTF-16LE"
    if len(head) >= 4 and any(odd) and not any(even):
        return "UTF-16BE"
    return None


def _separator(header_line: bytes) -> str:
    """Return the field separator: a comma, or a tab or semicolon when the header has no comma."""
    if b"," not in header_line:
        for other in OTHER_SEPARATORS:
            if other.encode() in header_line:
                return other
    return ","


def _header_names(data: bytes, separator: str) -> list[str]:
    """Return a CSV's header names as written: polars renames a repeated name on its own."""
    first = pl.read_csv(
        data,
        separator=separator,
        has_header=False,
        n_rows=1,
        infer_schema=False,
        truncate_ragged_lines=True,  # the header alone is read here; later lines are not judged
    )
    return list(first.row(0))


def _parse_csv(data: bytes, separator: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read CSV bytes as text columns; lines longer than the header are returned as rejects."""
    try:
        return pl.read_csv(data, separator=separator, infer_schema=False), _NO_REJECTS
    except pl.exceptions.ComputeError as error:
        if _MORE_FIELDS not in str(error):
            raise
        table = pl.read_csv(
            data, separator=separator, infer_schema=False, truncate_ragged_lines=True
        )
        rejects = _longer_lines(data.decode("utf-8"), separator, table.width, table.height)
        if rejects is None:
            raise
        return table, rejects


def _longer_lines(text: str, separator: str, n_columns: int, n_rows: int) -> pl.DataFrame | None:
    """Return the data lines with more than `n_columns` fields as `field_count` rejects.

    Fields are counted per line, quotes respected. Returns None when lines and rows do not pair
    one to one (a quoted field holds a line break), so that no line gets a wrong row number.
    """
    lines = pl.Series("raw", [text]).str.split("\n").explode().str.strip_suffix("\r")
    lines = lines.slice(1)  # the header is not a data row
    if text.endswith("\n"):
        lines = lines.head(-1)
    if lines.len() != n_rows or (lines.str.count_matches('"', literal=True) % 2 == 1).any():
        return None
    quoted = r'"(?:[^"]|"")*"'
    n_fields = (
        1
        + lines.str.count_matches(f"{quoted}|{re.escape(separator)}")
        - lines.str.count_matches(quoted)
    )
    return (
        pl.DataFrame({"raw": lines, "n_fields": n_fields})
        .with_row_index(ROW_NUMBER, offset=1)
        .filter(pl.col("n_fields") > n_columns)
        .select(
            pl.col(ROW_NUMBER).cast(pl.Int64),
            shortened(pl.col("raw")).alias("raw"),
            pl.format(
                f"field_count: {{}} fields in a line, the header has {n_columns}",
                "n_fields",
            ).alias("reason"),
        )
    )


def _refuse_long_fields(table: pl.DataFrame, path: Path) -> None:
    """Raise naming the first text field over `MAX_FIELD_BYTES`, with its row and column."""
    too_long = [n for n in table.columns if len(n.encode()) > MAX_FIELD_BYTES]
    if too_long:
        raise FileFormatError(
            f"{path}: a header name of {len(too_long[0].encode()):,} bytes, over "
            f"MAX_FIELD_BYTES={MAX_FIELD_BYTES:,}"
        )
    text = [name for name, dtype in table.schema.items() if dtype == pl.String]
    sizes = table.select(pl.col(text).str.len_bytes().max()).row(0, named=True) if text else {}
    for column, size in sizes.items():
        if size is not None and size > MAX_FIELD_BYTES:
            lengths = table[column].str.len_bytes()
            row = int((lengths > MAX_FIELD_BYTES).arg_true()[0])
            raise FileFormatError(
                f"{path}: row {row + 1}, column {column!r}: a field of {lengths[row]:,} bytes, "
                f"over MAX_FIELD_BYTES={MAX_FIELD_BYTES:,} (a quote left open?)"
            )


def _refuse_duplicates(original: Sequence[str], names: Sequence[str], name: str) -> None:
    """Raise naming a column that two headers share, so that neither is renamed or dropped."""
    seen: dict[str, str] = {}
    for written, key in zip(original, names, strict=True):
        if key in seen:
            raise FileFormatError(
                f"{name}: line 1: column {key!r} appears twice in the header (as {seen[key]!r} "
                f"and {written!r}); rename or remove one (rule duplicate_column); {EXPECTED}"
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
    # A blank line holds no row to keep or reject; row numbers still count it.
    table = table.filter(~pl.all_horizontal(pl.all().exclude(ROW_NUMBER).is_null()))
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


def read_price_rows(
    path: str | os.PathLike[str], options: FileOptions | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read one CSV or Parquet price file into raw long rows (see `to_long`) and rejected lines.

    The rejected lines (`row_number`, `raw`, `reason`) are those `read_table` could not split
    into the header's fields; none of their cells is among the long rows.
    """
    table, rejects = read_table(path)
    rows = to_long(table, options or FileOptions(), name=str(path))
    if rows.is_empty() and rejects.is_empty():
        raise FileFormatError(f"{path}: no data, only blank lines or empty cells; {EXPECTED}")
    rejected = rejects[ROW_NUMBER].cast(rows.schema[ROW_NUMBER])
    return rows.filter(~pl.col(ROW_NUMBER).is_in(rejected.implode())), rejects


def read_price_file(
    path: str | os.PathLike[str], options: FileOptions | None = None
) -> pl.DataFrame:
    """Read a price file that must be whole (a bundled dataset) into raw long rows.

    Raises `FileFormatError` naming the first line `read_price_rows` would reject.
    """
    rows, rejects = read_price_rows(path, options)
    if rejects.height:
        line = rejects.row(0, named=True)
        raise FileFormatError(f"{path}: row {line[ROW_NUMBER]}: {line['reason']}")
    return rows
