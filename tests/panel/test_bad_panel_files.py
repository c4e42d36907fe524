"""A corpus of bad panel files for `cae ingest-panel`, each made here in tmp_path.

Every bad file is refused with one line naming the file, the line (header = line 1, in the
file's own order), the raw value and the rule, and the panel loaded before stays exactly as it
was. A good file that replaces a panel says so, and `--restore` brings the replaced one back.
"""

import datetime as dt
import gzip
import re

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from cae import warehouse
from cae.cli import main
from cae.home import Home

GOOD = (
    "date,ticker,ret,c0,c1\n"
    "2020-01-31,A,0.01,1.0,5\n"
    "2020-01-31,B,0.02,2.0,6\n"
    "2020-02-29,A,-0.01,3.0,7\n"
    "2020-02-29,B,0.03,4.0,8\n"
)
# The same panel as GOOD as it is stored: ret_fwd is the ticker's ret at the next date.
GOOD_TABLE = pl.DataFrame(
    {
        "date": [dt.date(2020, 1, 31)] * 2 + [dt.date(2020, 2, 29)] * 2,
        "ticker": ["A", "B", "A", "B"],
        "ret": [0.01, 0.02, -0.01, 0.03],
        "ret_fwd": [-0.01, 0.03, None, None],
        "is_in_universe": [True] * 4,
        "c0": [1.0, 2.0, 3.0, 4.0],
        "c1": [5.0, 6.0, 7.0, 8.0],
    }
)
# A second good panel, three dates and one characteristic.
OTHER = "date,ticker,ret,size\n20200131,X,0.01,1.5\n20200229,X,0.02,1.6\n20200331,X,0.03,1.7\n"
HEADER = "date,ticker,ret,c0,c1\n"
ROW = "2020-02-29,B,0.03,4.0,8\n"


def _ingest(path, home, *extra):
    return main(["ingest-panel", str(path), "--home", str(home), "--freq", "monthly", *extra])


def _query(home, sql):
    con = duckdb.connect(str(Home.of(home).warehouse), read_only=True)
    try:
        return con.sql(sql).pl()
    finally:
        con.close()


def _table(home, name="characteristics_own_monthly"):
    return _query(home, f"select * from {name} order by date, ticker")


def _tables(home):
    names = "select table_name from duckdb_tables() where table_name like 'characteristics%'"
    return sorted(_query(home, names)["table_name"].to_list())


def _meta(home, table="panel_meta"):
    return _query(home, f"select * from {table} order by freq")


def _one_line(captured) -> str:
    assert "Traceback" not in captured.out + captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


@pytest.fixture
def home(tmp_path, capsys):
    """A home holding the GOOD panel at monthly."""
    home = tmp_path / "home"
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    assert _ingest(good, home) == 0
    capsys.readouterr()
    return home


def _refused(home, path, capsys, *patterns):
    meta = _meta(home)
    assert _ingest(path, home) == 1
    line = _one_line(capsys.readouterr())
    assert line.startswith(f"error: {path}")
    for pattern in patterns:
        assert re.search(pattern, line), line
    assert_frame_equal(_table(home), GOOD_TABLE)
    assert_frame_equal(_meta(home), meta)
    assert _tables(home) == ["characteristics_own_monthly"]
    return line


def test_a_good_panel_is_stored_exactly(home):
    assert_frame_equal(_table(home), GOOD_TABLE)
    meta = _meta(home).row(0, named=True)
    assert (meta["freq"], meta["char_names"], meta["n_rows"]) == ("own_monthly", '["c0", "c1"]', 4)


# --- degenerate panels (item 1) ----------------------------------------------------------------
def test_header_only_keeps_the_loaded_panel(home, tmp_path, capsys):
    path = tmp_path / "panel.csv"
    path.write_text(HEADER)
    _refused(home, path, capsys, r"a header but no data rows")


def test_one_date_keeps_the_loaded_panel(home, tmp_path, capsys):
    path = tmp_path / "panel.csv"
    path.write_text(HEADER + "2020-01-31,A,0.01,1,2\n2020-01-31,B,0.01,1,2\n")
    _refused(home, path, capsys, r"1 date \(2020-01-31\)", r"MIN_PANEL_DATES=2", r"min_dates")


def test_no_characteristic_column_keeps_the_loaded_panel(home, tmp_path, capsys):
    path = tmp_path / "panel.csv"
    path.write_text("date,ticker,ret,ret_fwd\n2020-01-31,A,0.01,0.02\n2020-02-29,A,0.02,0.01\n")
    _refused(home, path, capsys, r": line 1: no characteristic column", r"no_characteristics")


# --- the header (items 2, 3) -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("date,ticker,ret,c0,c0", "c0"),
        ("date,ticker,ret,c0,C0", "C0"),
        ("date,ticker,ret,c0,DATE", "DATE"),
    ],
)
def test_a_duplicate_header_names_the_column(home, tmp_path, capsys, header, column):
    path = tmp_path / "panel.csv"
    path.write_text(f"{header}\n2020-01-31,A,0.01,1,1\n2020-02-29,A,0.01,3,3\n")
    _refused(home, path, capsys, rf": line 1: column '{column}' appears twice", "duplicate_column")


@pytest.mark.parametrize("column", ["is_in_universe", "IS_IN_UNIVERSE", "file_line"])
def test_a_reserved_column_name_is_refused(home, tmp_path, capsys, column):
    path = tmp_path / "panel.csv"
    path.write_text(f"date,ticker,ret,{column}\n2020-01-31,A,0.01,1\n2020-02-29,A,0.01,3\n")
    _refused(home, path, capsys, rf": line 1: column '{column}' is reserved", "reserved_column")


def test_a_column_without_a_name_is_refused(home, tmp_path, capsys):
    path = tmp_path / "panel.csv"
    path.write_text("date,ticker,ret,c0,\n2020-01-31,A,0.01,1,2\n2020-02-29,A,0.01,3,4\n")
    _refused(home, path, capsys, r": line 1: column 5 has no name", "column_name")


def test_a_missing_ret_column_is_refused(home, tmp_path, capsys):
    path = tmp_path / "panel.csv"
    path.write_text("date,ticker,c0\n2020-01-31,A,1\n2020-02-29,A,3\n")
    _refused(home, path, capsys, r": line 1: missing required column\(s\) ret", "required_columns")


def test_a_semicolon_file_asks_for_commas(home, tmp_path, capsys):
    path = tmp_path / "panel.csv"
    path.write_text("date;ticker;ret;c0\n2020-01-31;A;0.01;1\n2020-02-29;A;0.01;3\n")
    _refused(home, path, capsys, r"missing required column\(s\) date, ticker, ret", "comma")


# --- cells: file line, raw value and rule (item 4) ---------------------------------------------
# The rows are out of date order, so a position after sorting would differ from the file line.
@pytest.mark.parametrize(
    ("bad_row", "pattern"),
    [
        ("2020-01-31,C,0.01,abc,1", r"line 4: c0 'abc' is not a number \(rule number\)"),
        ("2020-01-31,C,0.01,1.5,inf", r"line 4: c1 'inf' is not finite \(rule finite\)"),
        ("2020-01-31,C,-inf,1.5,1", r"line 4: ret '-inf' is not finite \(rule finite\)"),
        (
            "2020-01-31,C,1e9,1.5,1",
            r"line 4: ret '1e9' is beyond PANEL_MAX_ABS_RETURN=10 .*\(rule ret_range\)",
        ),
        (
            "2020-13-45,C,0.01,1.5,1",
            r"line 4: date '2020-13-45' is not a date .*YYYYMMDD\) \(rule date\)",
        ),
        (",C,0.01,1.5,1", r"line 4: date '' is not .* \(rule date\)"),
        (
            "1850-01-31,C,0.01,1.5,1",
            r"line 4: date '1850-01-31' is before 1900-01-01 .*date_after_min",
        ),
        (
            "2999-01-31,C,0.01,1.5,1",
            r"line 4: date '2999-01-31' is in the future .*date_not_future",
        ),
        ("2020-01-31,,0.01,1.5,1", r"line 4: ticker '' is empty \(rule ticker_nonempty\)"),
        ("2020-01-31,   ,0.01,1.5,1", r"line 4: ticker '   ' is empty \(rule ticker_nonempty\)"),
        (
            "2020-02-29,A,0.02,1.5,1",
            r"line 4: \(date, ticker\) = \(2020-02-29, 'A'\) repeats line 2 \(rule unique\)",
        ),
    ],
)
def test_a_bad_cell_names_its_file_line_and_raw_value(home, tmp_path, capsys, bad_row, pattern):
    path = tmp_path / "panel.csv"
    path.write_text(
        HEADER + "2020-02-29,A,0.01,1,2\n" + ROW + bad_row + "\n" + ROW.replace("B", "D")
    )
    _refused(home, path, capsys, pattern)


@pytest.mark.parametrize(
    ("bad_row", "pattern"),
    [
        (
            "2020-01-31,C,0.01,1.5,1,9",
            r"line 4: 6 fields where the header has 5 \(rule field_count\)",
        ),
        ("2020-01-31,C,0.01,1.5", r"line 4: 4 fields where the header has 5 \(rule field_count\)"),
        (
            '2020-01-31,"C,0.01,1.5,1',
            r"line 4: 2 fields where the header has 5 \(rule field_count\)",
        ),
    ],
)
def test_a_ragged_line_is_named(home, tmp_path, capsys, bad_row, pattern):
    path = tmp_path / "panel.csv"
    path.write_text(
        HEADER + "2020-02-29,A,0.01,1,2\n" + ROW + bad_row + "\n" + ROW.replace("B", "D")
    )
    _refused(home, path, capsys, pattern)


def test_more_bad_cells_are_counted(home, tmp_path, capsys):
    path = tmp_path / "panel.csv"
    path.write_text(HEADER + ROW + "2020-01-31,A,0.01,x,1\n" + "2020-01-31,C,0.01,y,1\n")
    _refused(home, path, capsys, r"line 3: c0 'x' is not a number \(rule number\); 1 more line")


def test_a_parquet_cell_is_named_by_row(home, tmp_path, capsys):
    path = tmp_path / "panel.parquet"
    pl.DataFrame(
        {
            "date": ["2020-01-31", "2020-02-29", "2020-03-31"],
            "ticker": ["A", "A", "A"],
            "ret": [0.01, 0.02, 0.03],
            "c0": [1.0, float("inf"), 3.0],
        }
    ).write_parquet(path)
    _refused(home, path, capsys, r": row 2: c0 inf is not finite \(rule finite\)")


@pytest.mark.parametrize("values", [[[1.0], [2.0]], [{"a": 1}, {"a": 2}], [b"1", b"2"]])
def test_a_parquet_column_of_lists_structs_or_bytes_is_one_line(home, tmp_path, capsys, values):
    path = tmp_path / "panel.parquet"
    frame = pl.DataFrame({"date": ["20200131", "20200229"], "ticker": ["A", "A"], "c0": values})
    frame.with_columns(ret=pl.lit(0.01)).write_parquet(path)
    _refused(home, path, capsys, r": column 'c0' holds .* values; .*\(rule column_type\)")


# --- files that cannot be read (item 5) --------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("empty.csv", b"", r"the file is empty"),
        (
            "latin1.csv",
            (HEADER + "2020-01-31,Soci\xe9t\xe9,0.01,1,2\n").encode("latin-1"),
            r"not UTF-8",
        ),
        ("utf16.csv", (HEADER + ROW).encode("utf-16"), r"UTF-16 text.*iconv"),
        ("binary.csv", bytes(range(256)) * 4, r"binary content"),
        ("truncated.parquet", b"PAR1\x15\x04\x15\x10", r"not a readable Parquet file"),
        ("broken.csv.gz", b"\x1f\x8b\x08\x00garbage", r"not a readable gzip file"),
    ],
)
def test_an_unreadable_file_is_one_line(home, tmp_path, capsys, name, content, pattern):
    path = tmp_path / name
    path.write_bytes(content)
    line = _refused(home, path, capsys, pattern)
    if "expected a CSV" in line:  # the panel's format, not the prices'
        assert "ret" in line
        assert "close" not in line


def test_a_missing_file_is_one_line(home, tmp_path, capsys):
    _refused(home, tmp_path / "nope.csv", capsys, r"No such file")


def test_a_folder_is_one_line(home, tmp_path, capsys):
    (tmp_path / "folder.csv").mkdir()
    _refused(home, tmp_path / "folder.csv", capsys, r"a folder|directory")


# --- files that are fine -----------------------------------------------------------------------
def _stored(home, tmp_path, content: bytes, name="panel.csv"):
    path = tmp_path / name
    path.write_bytes(content)
    assert _ingest(path, home) == 0
    return _table(home)


def test_yyyymmdd_dates_load(home, tmp_path):
    content = GOOD.replace("2020-01-31", "20200131").replace("2020-02-29", "20200229")
    assert_frame_equal(_stored(home, tmp_path, content.encode()), GOOD_TABLE)


def test_nan_and_empty_cells_are_missing_values(home, tmp_path):
    content = GOOD.replace("A,0.01,1.0,5", "A,0.01,NaN,").replace("B,0.03,4.0", "B,0.03,nan")
    expected = GOOD_TABLE.with_columns(
        c0=pl.Series([None, 2.0, 3.0, None]), c1=pl.Series([None, 6.0, 7.0, 8.0])
    )
    assert_frame_equal(_stored(home, tmp_path, content.encode()), expected)


def test_unicode_names_bom_gzip_and_blank_lines_load(home, tmp_path):
    content = "\ufeff" + GOOD.replace("c1", "größe").replace(",B,", ",Société,") + "\n\n"
    expected = (
        GOOD_TABLE.rename({"c1": "größe"})
        .with_columns(ticker=pl.Series(["A", "Société", "A", "Société"]))
        .sort("date", "ticker")
    )
    stored = _stored(home, tmp_path, gzip.compress(content.encode()), "panel.csv.gz")
    assert_frame_equal(stored, expected)


# --- replacing and restoring (item 1) ----------------------------------------------------------
def test_a_replaced_panel_is_kept_and_restored(home, tmp_path, capsys):
    good_meta = _meta(home)
    other = tmp_path / "other.csv"
    other.write_text(OTHER)
    assert _ingest(other, home) == 0
    out = capsys.readouterr().out
    assert "characteristics_own_monthly: 3 rows over 3 dates, 1 characteristics from" in out
    assert "replaced 4 rows over 2 dates, kept as characteristics_own_monthly_previous" in out
    assert "cae ingest-panel --restore --freq monthly" in out
    other_table, other_meta = _table(home), _meta(home)
    assert other_table["ticker"].to_list() == ["X"] * 3
    assert_frame_equal(_table(home, "characteristics_own_monthly_previous"), GOOD_TABLE)
    assert_frame_equal(_meta(home, "panel_meta_previous").select(good_meta.columns), good_meta)

    assert main(["ingest-panel", "--restore", "--home", str(home), "--freq", "monthly"]) == 0
    out = capsys.readouterr().out
    assert "restored 4 rows over 2 dates" in out
    assert "good.csv" in out
    assert (
        "replaced (3 rows over 3 dates) is now kept as characteristics_own_monthly_previous" in out
    )
    assert_frame_equal(_table(home), GOOD_TABLE)
    assert_frame_equal(_meta(home), good_meta)
    assert_frame_equal(_table(home, "characteristics_own_monthly_previous"), other_table)
    assert_frame_equal(_meta(home, "panel_meta_previous").select(other_meta.columns), other_meta)
    # A second restore undoes the first: nothing is ever lost by restoring.
    assert main(["ingest-panel", "--restore", "--home", str(home), "--freq", "monthly"]) == 0
    assert_frame_equal(_table(home), other_table)


def test_the_previous_panel_lives_until_the_next_replacement(home, tmp_path):
    other = tmp_path / "other.csv"
    other.write_text(OTHER)
    assert _ingest(other, home) == 0
    first_other = _table(home)
    other.write_text(OTHER.replace("1.7", "1.8"))
    assert _ingest(other, home) == 0
    assert_frame_equal(_table(home, "characteristics_own_monthly_previous"), first_other)
    assert _tables(home) == ["characteristics_own_monthly", "characteristics_own_monthly_previous"]


def test_a_refused_file_keeps_the_previous_panel_too(home, tmp_path, capsys):
    other = tmp_path / "other.csv"
    other.write_text(OTHER)
    assert _ingest(other, home) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("date,ticker,ret,size\n")
    assert _ingest(bad, home) == 1
    assert_frame_equal(_table(home, "characteristics_own_monthly_previous"), GOOD_TABLE)


def test_restore_with_nothing_to_restore_is_one_line(home, capsys):
    assert main(["ingest-panel", "--restore", "--home", str(home), "--freq", "monthly"]) == 1
    line = _one_line(capsys.readouterr())
    assert "no replaced panel at monthly to restore" in line
    assert_frame_equal(_table(home), GOOD_TABLE)


@pytest.mark.parametrize("argv", [["--restore", "x.csv"], []])
def test_restore_takes_no_file_and_a_file_is_needed_otherwise(home, capsys, argv):
    assert main(["ingest-panel", *argv, "--home", str(home)]) == 1
    assert "give a FILE or --restore" in _one_line(capsys.readouterr())


def test_a_failure_while_replacing_changes_nothing(home, tmp_path, monkeypatch):
    from cae.panel import ingest_panel
    from cae.panel import store as panel_store

    other = tmp_path / "other.csv"
    other.write_text(OTHER)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(panel_store, "write_meta", broken)
    con = warehouse.connect(home)
    with pytest.raises(OSError, match="disk full"):
        ingest_panel(con, other, "monthly")
    con.close()
    assert_frame_equal(_table(home), GOOD_TABLE)
    assert _tables(home) == ["characteristics_own_monthly"]
    assert _meta(home, "panel_meta_previous").height == 0


def test_a_restore_brings_back_the_source_counts(home, tmp_path):
    counts = pl.DataFrame(
        {
            "freq": ["own_monthly", "own_monthly", "weekly"],
            "date": [dt.date(2020, 1, 31), dt.date(2020, 2, 29), dt.date(2020, 1, 31)],
            "name": ["turn"] * 3,
            "n_shares": [2, 1, 5],
            "n_proxy": [0, 1, 0],
        }
    )
    con = warehouse.connect(home)
    con.from_arrow(counts.to_arrow()).insert_into("characteristic_sources")
    con.close()
    query = "select * from characteristic_sources order by all"
    other = tmp_path / "other.csv"
    other.write_text(OTHER)
    assert _ingest(other, home) == 0
    assert_frame_equal(_query(home, query), counts.filter(pl.col("freq") == "weekly"))
    assert main(["ingest-panel", "--restore", "--home", str(home), "--freq", "monthly"]) == 0
    assert_frame_equal(_query(home, query), counts)


def test_build_panel_leaves_a_users_panel_alone(home, capsys):
    """A user's panel and the one built from prices at the same frequency never collide."""
    assert main(["synth", "--tickers", "3", "--days", "70", "--home", str(home)]) == 0
    assert main(["build-panel", "--freq", "monthly", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert "characteristics_monthly:" in out and "(full build)" in out
    assert "your panel" not in out
    assert_frame_equal(_table(home), GOOD_TABLE)
    assert _tables(home) == ["characteristics_monthly", "characteristics_own_monthly"]
    # A computed panel that build-panel rebuilds is not kept: it can be computed again.
    assert main(["build-panel", "--freq", "weekly", "--full", "--home", str(home)]) == 0
    assert main(["build-panel", "--freq", "weekly", "--full", "--home", str(home)]) == 0
    assert "characteristics_weekly_previous" not in _tables(home)


def test_injection_text_in_tickers_and_names_is_stored_as_text(home, tmp_path):
    ticker, name = "A'); drop table prices; --", 'c0"; drop table prices; --'
    content = GOOD.replace(",B,", f',"{ticker}",').replace(
        "c1", f'"{name.replace(chr(34), 2 * chr(34))}"'
    )
    stored = _stored(home, tmp_path, content.encode())
    assert stored.columns == [*GOOD_TABLE.columns[:-1], name]
    assert sorted(set(stored["ticker"])) == ["A", ticker]
    assert (
        "prices" in _query(home, "select table_name from duckdb_tables()")["table_name"].to_list()
    )
