"""Turn a source's raw long rows into typed price columns, noting each cell that fails to parse.

Sources hand over whatever their files hold (text from a CSV, numbers from Parquet). Parsing is
done here, once, so that a bad cell rejects its row with a message instead of failing the file or
turning a whole column into text.
"""

from __future__ import annotations

import itertools

import polars as pl

from cae.errors import FileFormatError

__all__ = [
    "DATE_FORMATS",
    "MAX_RAW_CELL_CHARS",
    "NUMERIC_COLUMNS",
    "OPTIONAL_COLUMNS",
    "PROBLEM",
    "REQUIRED_COLUMNS",
    "ROW_NUMBER",
    "coerce_prices",
    "infer_date_format",
    "shortened",
]

REQUIRED_COLUMNS = ("ticker", "date", "close")
OPTIONAL_COLUMNS = ("open", "high", "low", "volume", "adj_close", "shares_out")
NUMERIC_COLUMNS = ("open", "high", "low", "close", "volume", "adj_close", "shares_out")
# 1-based data row in the source file (the header is not counted), stored in rejected_rows.
ROW_NUMBER = "row_number"
# Parse failures found here, "rule: message", null for a clean row.
PROBLEM = "problem"
# Tried in this order; the one that parses most of the values wins, ties go to the earlier one,
# except that two formats reading every value differently (%m/%d/%Y, %d/%m/%Y) refuse the file.
DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y")
# Enough distinct values to tell formats apart without parsing a large file twice.
_DATE_SAMPLE = 2_000
# Characters of one cell that a rejected row's raw text and reason keep, then "...(N chars)":
# enough to recognise any real value, while a runaway 20 MB cell is not copied into the warehouse.
MAX_RAW_CELL_CHARS = 200


def shortened(text: pl.Expr) -> pl.Expr:
    """Cut text longer than `MAX_RAW_CELL_CHARS`, marking the cut with the original length."""
    n_chars = text.str.len_chars()
    cut = pl.format("{}...({} chars)", text.str.slice(0, MAX_RAW_CELL_CHARS), n_chars)
    return pl.when(n_chars > MAX_RAW_CELL_CHARS).then(cut).otherwise(text)


def infer_date_format(values: pl.Series) -> str:
    """Return the format in `DATE_FORMATS` that parses the most of `values` (text dates).

    Raises `FileFormatError` when two formats each read every value and read one differently
    (01/02/2010 as January 2 or February 1): only the user knows which is meant.
    """
    dates = values.drop_nulls().unique(maintain_order=True).str.strip_chars()
    dates = dates.filter(dates != "")
    sample = dates.head(_DATE_SAMPLE)
    counts = {f: int(sample.str.to_date(f, strict=False).is_not_null().sum()) for f in DATE_FORMATS}
    complete = [f for f, count in counts.items() if count == sample.len() > 0]
    if len(complete) > 1:
        return _settle(dates, complete)
    return max(DATE_FORMATS, key=counts.__getitem__)


def _settle(dates: pl.Series, formats: list[str]) -> str:
    """Choose among `formats`, which all read the sample, by reading every distinct date.

    Raises `FileFormatError` when two of them read every date and disagree on one.
    """
    readings = {f: dates.str.to_date(f, strict=False) for f in formats}
    complete = [f for f, read in readings.items() if read.null_count() == 0]
    for first, second in itertools.combinations(complete, 2):
        differ = readings[first] != readings[second]
        if differ.any():
            at = int(differ.arg_true()[0])
            raise FileFormatError(
                f"dates such as {dates[at]!r} read as {first} ({readings[first][at]}) and as "
                f"{second} ({readings[second][at]}): give --date-format {first} or "
                f"--date-format {second}"
            )
    return max(formats, key=lambda f: readings[f].is_not_null().sum())


def _text(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Utf8).str.strip_chars()


def _parse_date(raw: pl.DataFrame, date_format: str | None) -> tuple[pl.Expr, pl.Expr | None]:
    dtype = raw.schema["date"]
    if dtype == pl.Date:
        return pl.col("date"), None
    if isinstance(dtype, pl.Datetime):
        return pl.col("date").dt.date(), None
    text = _text("date")
    if dtype.is_integer():
        fmt = date_format or "%Y%m%d"
    else:
        fmt = date_format or infer_date_format(raw["date"].cast(pl.Utf8))
    parsed = text.str.to_date(fmt, strict=False)
    problem = pl.when(text.is_not_null() & (text != "") & parsed.is_null()).then(
        pl.format(f"date_parses: date '{{}}' does not match {fmt}", shortened(text))
    )
    return parsed, problem


def _parse_number(raw: pl.DataFrame, column: str) -> tuple[pl.Expr, pl.Expr | None]:
    dtype = raw.schema[column]
    if dtype.is_numeric() or dtype == pl.Null:
        return pl.col(column).cast(pl.Float64), None
    text = _text(column)
    parsed = text.cast(pl.Float64, strict=False)
    problem = pl.when(text.is_not_null() & (text != "") & parsed.is_null()).then(
        pl.format(f"number_parses: {column} '{{}}' is not a number", shortened(text))
    )
    return parsed, problem


def _ticker(keep_case: bool) -> pl.Expr:
    # One spelling per ticker: `zza` and `ZZA ` on one date must collide as one key. A runaway
    # cell is cut here, far above any valid ticker's length (which validation checks), so that
    # no rule's message copies it whole.
    ticker = _text("ticker")
    return shortened(ticker if keep_case else ticker.str.to_uppercase())


def coerce_prices(
    raw: pl.DataFrame, *, date_format: str | None = None, keep_ticker_case: bool = False
) -> pl.DataFrame:
    """Return typed `Prices` columns plus `row_number` and `problem` from raw long rows.

    Parameters
    ----------
    raw
        Long rows with at least `ticker`, `date`, `close`; optional `open`, `high`, `low`,
        `volume` (shares), `adj_close`, `shares_out` and `row_number`. Any dtype: text is parsed.
    date_format
        strptime format of text dates; inferred from the values when omitted.
    keep_ticker_case
        Keep tickers' letter case; by default they are upper-cased. Either way they are trimmed.

    Returns
    -------
    pl.DataFrame
        One row per input row, in order: `row_number`, `ticker`, `date`, `open`, `high`, `low`,
        `close`, `volume`, `adj_factor` (adj_close / close), `shares_out` and `problem` (the
        parse failures of the row, or null). A cell that fails to parse is null. A row without
        adj_close has a null `adj_factor`: unknown, so that it cannot reset a stored factor
        (`cae.warehouse.ingest` fills 1.0 for a new day).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise FileFormatError(f"frame is missing required column(s) {', '.join(missing)}")
    frame = raw.with_columns(
        pl.lit(None, dtype=pl.Float64).alias(c) for c in OPTIONAL_COLUMNS if c not in raw.columns
    )
    if ROW_NUMBER not in frame.columns:
        frame = frame.with_row_index(ROW_NUMBER, offset=1)
    date, date_problem = _parse_date(frame, date_format)
    numbers = {c: _parse_number(frame, c) for c in NUMERIC_COLUMNS}
    problems = [p for p in [date_problem, *(p for _, p in numbers.values())] if p is not None]
    joined = pl.concat_str(problems, separator="; ", ignore_nulls=True) if problems else None
    problem = pl.when(joined != "").then(joined) if joined is not None else pl.lit(None)
    typed = frame.select(
        pl.col(ROW_NUMBER).cast(pl.Int64),
        _ticker(keep_ticker_case).alias("ticker"),
        date.alias("date"),
        *(expr.alias(c) for c, (expr, _) in numbers.items()),
        problem.cast(pl.Utf8).alias(PROBLEM),
    )
    adj_factor = pl.col("adj_close") / pl.col("close")
    return typed.with_columns(adj_factor.alias("adj_factor")).select(
        ROW_NUMBER,
        "ticker",
        "date",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "adj_factor",
        "shares_out",
        PROBLEM,
    )
