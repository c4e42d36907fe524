"""A corpus of bad and odd price files, each ingested through `cae ingest` on a fresh home.

Every case states what the user sees: the exit code, the one line that names the file, the row
or line and the rule, and exactly which rows were stored and which were rejected (with rule).
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
import pytest

from cae import cli
from cae.home import Home
from cae.warehouse.sources import files

HEADER = "ticker,date,open,high,low,close,volume\n"
ROW_A = "AAA,2020-01-02,10,11,9,10.5,1000\n"
ROW_B = "BBB,2020-01-02,50,51,49,50.5,300\n"
GOOD = HEADER + ROW_A + ROW_B
GOOD_ROWS = [("AAA", "2020-01-02", 10.5), ("BBB", "2020-01-02", 50.5)]

# A file's content: bytes, or a function that writes the file at the given path (Parquet).
Content = bytes | Callable[[Path], None]


@dataclass
class Ingested:
    """What a user sees after `cae ingest`: exit code, output and the warehouse's rows."""

    code: int
    out: str
    err: str
    # (ticker, date, close) of every stored price, sorted.
    prices: list[tuple] = field(default_factory=list)
    # (row_number, [rules]) of every rejected row, in batch and row order.
    rejects: list[tuple] = field(default_factory=list)
    # (file name, rows_in, rows_rejected) of every batch.
    batches: list[tuple] = field(default_factory=list)


def _write(path: Path, content: Content) -> None:
    if callable(content):
        content(path)
    else:
        path.write_bytes(content)


def _rules(reason: str) -> list[str]:
    return re.findall(r"(?:^|; )([a-z_]+):", reason)


def run_ingest(
    tmp_path: Path, capsys, files_: dict[str, Content], *args: str, targets=None
) -> Ingested:
    """Write `files_` into a fresh folder, ingest them (or `targets`) into a fresh home."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name, content in files_.items():
        _write(folder / name, content)
    home = tmp_path / "home"
    names = targets if targets is not None else list(files_)
    code = cli.main(["ingest", *(str(folder / n) for n in names), *args, "--home", str(home)])
    captured = capsys.readouterr()
    result = Ingested(code, captured.out, captured.err)
    if Home.of(home).warehouse.exists():
        con = duckdb.connect(str(Home.of(home).warehouse), read_only=True)
        try:
            result.prices = con.execute(
                "select ticker, strftime(date, '%Y-%m-%d'), close from prices order by all"
            ).fetchall()
            rejects = con.execute(
                "select row_number, reason from rejected_rows order by batch_id, row_number"
            ).fetchall()
            result.rejects = [(row, _rules(reason)) for row, reason in rejects]
            batches = con.execute(
                "select file, rows_in, rows_rejected from ingest_batches order by batch_id"
            ).fetchall()
            result.batches = [(Path(f).name, n, r) for f, n, r in batches]
        finally:
            con.close()
    return result


def assert_refused(result: Ingested, *fragments: str) -> None:
    """Exit 1, one `error:` line holding every fragment, no traceback, nothing stored."""
    assert result.code == 1, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.err
    assert (result.prices, result.rejects) == ([], [])


# --- duplicate headers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "args", "column"),
    [
        (b"date,ZZA,ZZA\n2020-01-02,1,2\n", (), "'ZZA'"),
        (b"ticker,date,close,close\nAAA,2020-01-02,1,2\n", (), "'close'"),
        (b"ticker,date,Close,close \nAAA,2020-01-02,1,2\n", (), "'close'"),
        (b"ticker,date,close,last\nAAA,2020-01-02,1,2\n", ("--map", "last=close"), "'close'"),
    ],
    ids=["wide_same_ticker", "long_same_column", "long_case_and_space", "map_onto_existing"],
)
def test_a_duplicate_header_names_the_column_and_stores_nothing(
    tmp_path, capsys, content, args, column
):
    result = run_ingest(tmp_path, capsys, {"dup.csv": content}, *args)
    assert_refused(result, "dup.csv", "appears twice in the header", column)


def _duplicate_parquet(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    dates = pa.array([dt.date(2020, 1, 2)])
    pq.write_table(
        pa.table([dates, pa.array([1.0]), pa.array([2.0])], ["date", "ZZA", "ZZA"]), path
    )


def test_a_parquet_file_with_a_repeated_name_is_refused_naming_it(tmp_path, capsys):
    result = run_ingest(tmp_path, capsys, {"dup.parquet": _duplicate_parquet})
    assert_refused(result, "dup.parquet", "not a readable Parquet file", "'ZZA'")


# --- Parquet column types --------------------------------------------------------------------


def _parquet(**columns) -> Callable[[Path], None]:
    return lambda path: pl.DataFrame(columns).write_parquet(path)


@pytest.mark.parametrize(
    ("bad", "column", "dtype"),
    [
        (_parquet(ticker=["CCC"], date=[dt.date(2020, 1, 2)], close=[[1.0, 2.0]]), "close", "List"),
        (
            _parquet(ticker=[{"a": "CCC"}], date=[dt.date(2020, 1, 2)], close=[1.0]),
            "ticker",
            "Struct",
        ),
        (_parquet(date=[dt.date(2020, 1, 2)], CCC=[[1.0]]), "CCC", "List"),
    ],
    ids=["list_close", "struct_ticker", "list_wide"],
)
def test_a_nested_parquet_column_is_one_line_and_the_other_files_load(
    tmp_path, capsys, bad, column, dtype
):
    good = _parquet(ticker=["AAA"], date=[dt.date(2020, 1, 2)], close=[10.5])
    later = _parquet(ticker=["BBB"], date=[dt.date(2020, 1, 2)], close=[50.5])
    result = run_ingest(tmp_path, capsys, {"a.parquet": good, "b.parquet": bad, "c.parquet": later})
    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert line.startswith("error: 1 unreadable file(s) (2 other file(s) ingested): ")
    assert f"b.parquet: column '{column}' has type {dtype}" in line
    assert "expected text, numbers or dates" in line
    assert "Traceback" not in result.err
    assert result.prices == GOOD_ROWS
    assert [name for name, _, _ in result.batches] == ["a.parquet", "c.parquet"]


# --- limits ----------------------------------------------------------------------------------


def _wide(n_tickers: int, n_dates: int = 1) -> bytes:
    header = ",".join(["date", *(f"T{i}" for i in range(n_tickers))])
    rows = [",".join([f"2020-01-{d + 2:02d}", *["10.5"] * n_tickers]) for d in range(n_dates)]
    return "\n".join([header, *rows, ""]).encode()


def test_a_file_over_max_columns_is_refused_before_it_is_parsed(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(files, "MAX_COLUMNS", 3)
    parsed = []
    monkeypatch.setattr(files.pl, "read_csv", lambda *a, **k: parsed.append(a))
    result = run_ingest(tmp_path, capsys, {"wide.csv": _wide(4)})
    assert_refused(result, "wide.csv: 5 columns, over MAX_COLUMNS=3")
    assert parsed == []


def test_a_parquet_file_over_max_columns_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(files, "MAX_COLUMNS", 3)
    wide = _parquet(date=[dt.date(2020, 1, 2)], A=[1.0], B=[2.0], C=[3.0])
    result = run_ingest(tmp_path, capsys, {"wide.parquet": wide})
    assert_refused(result, "wide.parquet: 4 columns, over MAX_COLUMNS=3")


def test_a_field_over_max_field_bytes_is_refused_naming_row_and_column(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(files, "MAX_FIELD_BYTES", 16)
    content = (GOOD + "CCCCCCCCCCCCCCCCC,2020-01-02,1,1,1,1,1\n").encode()
    result = run_ingest(tmp_path, capsys, {"long.csv": content})
    assert_refused(
        result, "long.csv: row 3, column 'ticker': a field of 17 bytes, over MAX_FIELD_BYTES=16"
    )


def test_a_quote_left_open_names_the_field(tmp_path, capsys):
    content = (HEADER + 'AAA,2020-01-02,10,11,9,"10.5,1000\n' + ROW_B * 40).encode()
    result = run_ingest(tmp_path, capsys, {"open.csv": content})
    assert_refused(
        result,
        "open.csv: not a readable CSV (a quote is never closed, ",
        "in the field that starts '\"10.5,1000')",
    )


def test_a_wide_file_of_600_tickers_loads(tmp_path, capsys):
    result = run_ingest(tmp_path, capsys, {"wide.csv": _wide(600, n_dates=3)})
    assert result.code == 0, result.err
    assert len(result.prices) == 1800
    assert result.batches == [("wide.csv", 1800, 0)]


# --- encodings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        (GOOD.encode("utf-16"), "UTF-16"),
        (GOOD.encode("utf-16-le"), "UTF-16LE"),
        (GOOD.encode("utf-16-be"), "UTF-16BE"),
    ],
    ids=["bom", "le", "be"],
)
def test_utf16_text_says_how_to_convert(tmp_path, capsys, content, encoding):
    result = run_ingest(tmp_path, capsys, {"u16.csv": content})
    assert_refused(result, "u16.csv: UTF-16 text", f"iconv -f {encoding} -t UTF-8 ")


def test_a_utf8_byte_order_mark_loads(tmp_path, capsys):
    result = run_ingest(tmp_path, capsys, {"bom.csv": b"\xef\xbb\xbf" + GOOD.encode()})
    assert result.code == 0, result.err
    assert result.prices == GOOD_ROWS


# --- field counts ----------------------------------------------------------------------------


def test_a_line_with_an_extra_field_is_rejected_and_the_others_load(tmp_path, capsys):
    content = HEADER + ROW_A + "CCC,2020-01-02,1,1,1,1,1,surplus\n" + "DDD,2020-01-02,1,1,1,-1,1\n"
    result = run_ingest(tmp_path, capsys, {"extra.csv": (content + ROW_B).encode()})
    assert result.code == 0, result.err
    assert "2 new rows, 0 changed, 2 rejected" in result.out
    assert result.prices == GOOD_ROWS
    assert result.rejects == [
        (2, ["field_count"]),
        (3, ["price_positive", "close_in_range"]),
    ]
    assert result.batches == [("extra.csv", 4, 2)]


def test_a_rejected_line_keeps_its_text_and_field_count(tmp_path, capsys):
    content = HEADER + ROW_A + 'CCC,"a,b",1,1,1,1,1,surplus\r\n'
    result = run_ingest(tmp_path, capsys, {"extra.csv": content.encode()})
    home = tmp_path / "home"
    con = duckdb.connect(str(Home.of(home).warehouse), read_only=True)
    row = con.execute("select row_number, raw, reason from rejected_rows").fetchone()
    con.close()
    assert result.prices == [GOOD_ROWS[0]]
    assert row == (
        2,
        'CCC,"a,b",1,1,1,1,1,surplus',
        "field_count: 8 fields in a line, the header has 7",
    )


def test_a_long_rejected_line_is_stored_cut(tmp_path, capsys):
    surplus = ",".join(["9"] * 1000)
    content = HEADER + ROW_A + f"CCC,2020-01-02,1,1,1,1,1,{surplus}\n"
    run_ingest(tmp_path, capsys, {"extra.csv": content.encode()})
    con = duckdb.connect(str(Home.of(tmp_path / "home").warehouse), read_only=True)
    (raw,) = con.execute("select raw from rejected_rows").fetchone()
    con.close()
    assert raw.startswith("CCC,2020-01-02,1,1,1,1,1,9,9")
    assert raw.endswith(f"...({len('CCC,2020-01-02,1,1,1,1,1,') + len(surplus)} chars)")
    assert len(raw) < 250


def test_a_wide_line_with_an_extra_field_rejects_that_date(tmp_path, capsys):
    content = b"date,AAA,BBB\n2020-01-02,10.5,50.5\n2020-01-03,1,2,3\n2020-01-06,11,51\n"
    result = run_ingest(tmp_path, capsys, {"wide.csv": content})
    assert result.code == 0, result.err
    assert result.prices == [
        ("AAA", "2020-01-02", 10.5),
        ("AAA", "2020-01-06", 11.0),
        ("BBB", "2020-01-02", 50.5),
        ("BBB", "2020-01-06", 51.0),
    ]
    assert result.rejects == [(2, ["field_count"])]


def test_missing_trailing_cells_are_empty(tmp_path, capsys):
    content = HEADER + "AAA,2020-01-02,10,11,9,10.5\n" + "BBB,2020-01-02\n"
    result = run_ingest(tmp_path, capsys, {"short.csv": content.encode()})
    assert result.code == 0, result.err
    assert result.prices == [GOOD_ROWS[0]]
    assert result.rejects == [(2, ["not_nullable"])]


# --- separators ------------------------------------------------------------------------------


@pytest.mark.parametrize("separator", ["\t", ";"], ids=["tab", "semicolon"])
def test_a_header_without_commas_takes_a_tab_or_semicolon_separator(tmp_path, capsys, separator):
    content = GOOD.replace(",", separator).encode()
    result = run_ingest(tmp_path, capsys, {"sep.csv": content})
    assert result.code == 0, result.err
    assert result.prices == GOOD_ROWS


# --- folders ---------------------------------------------------------------------------------


def test_a_folder_without_price_files_says_so(tmp_path, capsys):
    result = run_ingest(tmp_path, capsys, {"notes.md": b"# not prices\n"}, targets=[""])
    assert_refused(result, "in: folder holds no .csv/.parquet files")
    assert "no such file" not in result.err


# --- dates -----------------------------------------------------------------------------------


def test_dates_that_read_both_ways_ask_for_a_date_format(tmp_path, capsys):
    content = b"ticker,date,close\nAAA,01/02/2010,10.5\nAAA,03/02/2010,10.7\n"
    result = run_ingest(tmp_path, capsys, {"dmy.csv": content})
    assert_refused(
        result,
        "dmy.csv: dates such as '01/02/2010' read as %m/%d/%Y (2010-01-02) and as %d/%m/%Y "
        "(2010-02-01): give --date-format",
    )
    assert result.batches == []


def test_a_date_format_settles_the_ambiguity(tmp_path, capsys):
    content = b"ticker,date,close\nAAA,01/02/2010,10.5\nAAA,03/02/2010,10.7\n"
    result = run_ingest(tmp_path, capsys, {"dmy.csv": content}, "--date-format", "%d/%m/%Y")
    assert result.code == 0, result.err
    assert result.prices == [("AAA", "2010-02-01", 10.5), ("AAA", "2010-02-03", 10.7)]


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        (["01/02/2010", "13/02/2010"], ["2010-02-01", "2010-02-13"]),
        (["01/02/2010", "01/13/2010"], ["2010-01-02", "2010-01-13"]),
        (["01/01/2010", "02/02/2010"], ["2010-01-01", "2010-02-02"]),
    ],
    ids=["day_above_12", "month_then_day_above_12", "same_either_way"],
)
def test_dates_that_read_one_way_only_are_inferred(tmp_path, capsys, dates, expected):
    content = "ticker,date,close\n" + "".join(f"AAA,{d},10.5\n" for d in dates)
    result = run_ingest(tmp_path, capsys, {"dates.csv": content.encode()})
    assert result.code == 0, result.err
    assert [date for _, date, _ in result.prices] == expected


def test_a_date_beyond_the_inference_sample_settles_the_order(tmp_path, capsys, monkeypatch):
    from cae.warehouse.sources import coerce

    monkeypatch.setattr(coerce, "_DATE_SAMPLE", 1)
    content = b"ticker,date,close\nAAA,01/02/2010,10.5\nAAA,13/02/2010,10.7\n"
    result = run_ingest(tmp_path, capsys, {"dates.csv": content})
    assert result.code == 0, result.err
    assert [date for _, date, _ in result.prices] == ["2010-02-01", "2010-02-13"]


# --- the corpus ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One kind of price file and what `cae ingest` must do with it."""

    content: Content
    name: str = "p.csv"
    # For a refused file: fragments of the one error line, after "error: <path>".
    refused: tuple[str, ...] = ()
    # For a loaded file: (ticker, date, close) stored, and (row_number, [rules]) rejected.
    prices: tuple = ()
    rejects: tuple = ()


def _gzip_truncated(path: Path) -> None:
    path.write_bytes(gzip.compress(GOOD.encode())[:-12])


def _parquet_truncated(path: Path) -> None:
    pl.DataFrame({"ticker": ["AAA"], "date": [dt.date(2020, 1, 2)], "close": [10.5]}).write_parquet(
        path
    )
    path.write_bytes(path.read_bytes()[:-20])


LONG = "ticker,date,close\n"
AAA = ("AAA", "2020-01-02", 10.5)
INJECTIONS = ["'; DROP TABLE PRICES; --", "=CMD|' /C CALC'!A0", "<SCRIPT>ALERT(1)</SCRIPT>"]

CORPUS = {
    # encodings
    "latin1": Case(
        (LONG + "AAA,2020-01-02,10.5\n").encode() + b"CAF\xc9,2020-01-02,1\n",
        refused=(": not UTF-8 text (line 3, byte 41: b'\\xc9'); convert it first", "LATIN1"),
    ),
    "utf16_bom": Case(GOOD.encode("utf-16"), refused=(": UTF-16 text", "iconv -f UTF-16 ")),
    "utf8_bom": Case(b"\xef\xbb\xbf" + GOOD.encode(), prices=tuple(GOOD_ROWS)),
    # delimiters and line endings
    "tab": Case(GOOD.replace(",", "\t").encode(), name="p.txt", prices=tuple(GOOD_ROWS)),
    "semicolon_decimal_comma": Case(
        b"ticker;date;close\nAAA;2020-01-02;10.5\nBBB;2020-01-02;50,5\n",
        prices=(AAA,),
        rejects=((2, ["number_parses"]),),
    ),
    "crlf": Case(GOOD.replace("\n", "\r\n").encode(), prices=tuple(GOOD_ROWS)),
    "no_final_newline": Case(GOOD.rstrip("\n").encode(), prices=tuple(GOOD_ROWS)),
    "blank_lines": Case(
        (HEADER + ROW_A + "\n" + "CCC,2020-01-02,1,1,1,-1,1\n\n\n" + ROW_B).encode(),
        prices=tuple(GOOD_ROWS),
        rejects=((3, ["price_positive", "close_in_range"]),),
    ),
    # compression
    "gzip": Case(gzip.compress(GOOD.encode()), name="p.csv.gz", prices=tuple(GOOD_ROWS)),
    "gzip_truncated": Case(
        _gzip_truncated, name="p.csv.gz", refused=(": not a readable gzip file",)
    ),
    # truncation and emptiness
    "csv_truncated_mid_row": Case(
        (GOOD + "CCC,2020-01-0").encode(), prices=tuple(GOOD_ROWS), rejects=((3, ["date_parses"]),)
    ),
    "parquet_truncated": Case(
        _parquet_truncated, name="p.parquet", refused=(": not a readable Parquet file",)
    ),
    "empty": Case(b"", refused=(": the file is empty",)),
    "whitespace_only": Case(b"  \n\t\n   \n", refused=(": the file is empty",)),
    "header_only": Case(HEADER.rstrip("\n").encode(), refused=(": a header but no data rows",)),
    "header_and_blank_lines": Case(
        (LONG + "\n\n").encode(), refused=(": no data, only blank lines or empty cells",)
    ),
    "wide_all_cells_empty": Case(
        b"date,AAA,BBB\n2020-01-02,,\n", refused=(": no data, only blank lines or empty cells",)
    ),
    "binary_junk": Case(
        bytes(range(256)) * 4, name="p.csv", refused=(": binary content, not a text CSV",)
    ),
    # structure
    "wrong_columns": Case(
        b"foo,bar,baz\n1,2,3\n", refused=(": no ticker column and not a wide table of closes",)
    ),
    "missing_date_column": Case(
        b"ticker,close\nAAA,10.5\n", refused=(": missing required column(s) date",)
    ),
    "header_case_and_spaces": Case(b" Ticker , DATE ,Close\nAAA,2020-01-02,10.5\n", prices=(AAA,)),
    "extra_field": Case(
        (LONG + "AAA,2020-01-02,10.5\nBBB,2020-01-02,50.5,9\n").encode(),
        prices=(AAA,),
        rejects=((2, ["field_count"]),),
    ),
    "quoted_comma_and_newline": Case(
        (
            b"ticker,date,close,comment\n"
            b'AAA,2020-01-02,10.5,"one line\nand another, with a comma"\n'
            b'BBB,2020-01-02,"50.5",""\n'
            b'CCC,2020-01-02,-1,"say ""hi"""\n'
        ),
        prices=tuple(GOOD_ROWS),
        rejects=((3, ["price_positive"]),),
    ),
    "wide_with_listing_gaps": Case(
        b"Date,AAA,BBB\n2020-01-02,10.5,\n2020-01-03,,51\n",
        prices=(AAA, ("BBB", "2020-01-03", 51.0)),
    ),
    # values
    "thousands_separator": Case(
        (LONG + 'AAA,2020-01-02,10.5\nBBB,2020-01-02,"1,234.50"\n').encode(),
        prices=(AAA,),
        rejects=((2, ["number_parses"]),),
    ),
    "text_in_numbers": Case(
        (LONG + "AAA,2020-01-02,10.5\nBBB,2020-01-02,n/a\n").encode(),
        prices=(AAA,),
        rejects=((2, ["number_parses"]),),
    ),
    "number_spellings": Case(
        (LONG + "AAA,2020-01-02,1.05e1\nBBB,2020-01-02, +50.5 \n").encode(),
        prices=tuple(GOOD_ROWS),
    ),
    "nan_and_inf": Case(
        (LONG + "AAA,2020-01-02,NaN\nBBB,2020-01-02,inf\nCCC,2020-01-02,-inf\n").encode(),
        rejects=(
            (1, ["not_nullable", "finite", "price_below_max"]),
            (2, ["finite", "price_below_max"]),
            (3, ["finite", "price_positive", "price_below_max"]),
        ),
    ),
    "zero_and_negative": Case(
        (LONG + "AAA,2020-01-02,0\nBBB,2020-01-02,-50.5\nCCC,2020-01-02,10.5\n").encode(),
        prices=(("CCC", "2020-01-02", 10.5),),
        rejects=((1, ["price_positive"]), (2, ["price_positive"])),
    ),
    "huge_numbers": Case(
        (HEADER + "AAA,2020-01-02,1e300,1e300,1,10.5,1\nBBB,2020-01-02,1,1,1,1,1e13\n").encode(),
        rejects=((1, ["price_below_max", "price_below_max"]), (2, ["volume_below_max"])),
    ),
    "future_and_pre_1900_dates": Case(
        (LONG + "AAA,2999-01-01,10.5\nAAA,1899-12-29,10.5\nAAA,2020-01-02,10.5\n").encode(),
        prices=(AAA,),
        rejects=((1, ["date_not_future"]), (2, ["date_after_min"])),
    ),
    "mixed_date_formats": Case(
        (LONG + "AAA,2020-01-02,10.5\nAAA,2020-01-03,10.6\nAAA,01/06/2020,10.7\n").encode(),
        prices=(AAA, ("AAA", "2020-01-03", 10.6)),
        rejects=((3, ["date_parses"]),),
    ),
    "date_with_time": Case(
        (LONG + "AAA,2020-01-02,10.5\nAAA,2020-01-03 16:00:00,10.6\n").encode(),
        prices=(AAA,),
        rejects=((2, ["date_parses"]),),
    ),
    "empty_ticker": Case(
        (LONG + ",2020-01-02,10.5\nAAA,2020-01-02,10.5\n").encode(),
        prices=(AAA,),
        rejects=((1, ["not_nullable"]),),
    ),
    "duplicate_keys": Case(
        (LONG + "AAA,2020-01-02,10.5\nAAA,2020-01-02,10.6\nBBB,2020-01-02,50.5\n").encode(),
        prices=(("BBB", "2020-01-02", 50.5),),
        rejects=((1, ["duplicate_key"]), (2, ["duplicate_key"])),
    ),
    "injection_text_as_tickers": Case(
        (
            LONG
            + "".join(f'"{t.replace(chr(34), 2 * chr(34))}",2020-01-02,1\n' for t in INJECTIONS)
        ).encode(),
        prices=tuple(sorted((t, "2020-01-02", 1.0) for t in INJECTIONS)),
    ),
    # Parquet
    "parquet_text_numbers": Case(
        _parquet(ticker=["AAA", "BBB"], date=["2020-01-02", "2020-01-02"], close=["10.5", "x"]),
        name="p.parquet",
        prices=(AAA,),
        rejects=((2, ["number_parses"]),),
    ),
    "parquet_integer_and_datetime_dates": Case(
        _parquet(
            ticker=["AAA"], date=[dt.datetime(2020, 1, 2, 16, 0)], close=[10.5], volume=[1000]
        ),
        name="p.parquet",
        prices=(AAA,),
    ),
    "parquet_yyyymmdd_integers": Case(
        _parquet(ticker=["AAA"], date=[20200102], close=[10.5]), name="p.parquet", prices=(AAA,)
    ),
    "parquet_binary_column": Case(
        _parquet(ticker=[b"AAA"], date=[dt.date(2020, 1, 2)], close=[10.5]),
        name="p.parquet",
        refused=(": column 'ticker' has type Binary",),
    ),
}


@pytest.mark.parametrize("case", list(CORPUS.values()), ids=list(CORPUS))
def test_corpus(tmp_path, capsys, case):
    result = run_ingest(tmp_path, capsys, {case.name: case.content})
    assert "Traceback" not in result.err
    if case.refused:
        assert_refused(result, *(f"{case.name}{case.refused[0]}", *case.refused[1:]))
        assert result.batches == []
        return
    assert result.code == 0, result.err
    assert result.err == ""
    assert (tuple(result.prices), tuple(result.rejects)) == (case.prices, case.rejects)
    n_rejected = len(case.rejects)
    assert f"{len(case.prices)} new rows, 0 changed, {n_rejected} rejected" in result.out


def test_a_drop_folder_rejects_lines_and_names_a_refused_file_without_stopping(tmp_path, capsys):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.csv").write_bytes(b"ticker,date,close\nAAA,01/02/2010,10.5\n")
    (landing / "b.csv").write_bytes(GOOD.encode() + b"CCC,2020-01-02,1,1,1,1,1,9\n")
    for path in landing.iterdir():
        os.utime(path, (0, 0))
    home = tmp_path / "home"
    code = cli.main(["ingest", "--dropdir", str(landing), "--home", str(home)])
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert line.startswith("error: 1 unreadable file(s) in ")
    assert "(1 other file(s) ingested): " in line
    assert "a.csv: dates such as '01/02/2010' read as %m/%d/%Y" in line
    con = duckdb.connect(str(Home.of(home).warehouse), read_only=True)
    prices = con.execute("select ticker from prices order by 1").fetchall()
    rejects = con.execute("select row_number, raw from rejected_rows").fetchall()
    con.close()
    assert prices == [("AAA",), ("BBB",)]
    assert rejects == [(3, "CCC,2020-01-02,1,1,1,1,1,9")]
