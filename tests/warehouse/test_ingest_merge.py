"""Partial rows merge onto the stored day (issue 10), through `cae ingest` on a fresh home."""

import json

import pytest

from cae import cli, warehouse

FULL = (
    "ticker,date,open,high,low,close,volume,adj_close,shares_out\n"
    "AAA,2020-01-02,10,11,9,10.5,1000,5.25,2000000\n"
)
# open, high, low, close, volume, adj_factor, shares_out, batch_id of the stored day.
STORED = (10.0, 11.0, 9.0, 10.5, 1000.0, 0.5, 2e6, 1)
# A wide file and a long file that carry the close only.
CLOSE_ONLY = {
    "wide": "date,AAA\n2020-01-02,{close}\n",
    "long": "ticker,date,close\nAAA,2020-01-02,{close}\n",
}


def ingest(tmp_path, capsys, text, name="p.csv", *options):
    """Write `text` to a file, `cae ingest` it into tmp_path/h; return (exit code, stdout)."""
    path = tmp_path / name
    path.write_text(text)
    code = cli.main(["ingest", str(path), "--home", str(tmp_path / "h"), *options])
    return code, capsys.readouterr().out


def query(tmp_path, sql):
    con = warehouse.connect(tmp_path / "h", read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def stored_day(tmp_path):
    return query(
        tmp_path,
        "select open, high, low, close, volume, adj_factor, shares_out, batch_id from prices "
        "where ticker = 'AAA' and date = '2020-01-02'",
    )


@pytest.fixture
def stored(tmp_path, capsys):
    """A home holding one full day of AAA (batch 1)."""
    code, out = ingest(tmp_path, capsys, FULL, "full.csv")
    assert (code, "1 new rows, 0 changed, 0 rejected" in out) == (0, True)
    assert stored_day(tmp_path) == [STORED]


@pytest.mark.parametrize("layout", CLOSE_ONLY)
def test_an_identical_close_only_row_changes_nothing(stored, tmp_path, capsys, layout):
    code, out = ingest(tmp_path, capsys, CLOSE_ONLY[layout].format(close="10.5"))
    assert code == 0
    assert "0 new rows, 0 changed, 0 rejected" in out
    assert stored_day(tmp_path) == [STORED]


@pytest.mark.parametrize("layout", CLOSE_ONLY)
def test_a_new_close_inside_the_range_changes_the_close_only(stored, tmp_path, capsys, layout):
    code, out = ingest(tmp_path, capsys, CLOSE_ONLY[layout].format(close="10.75"))
    assert code == 0
    assert "0 new rows, 1 changed, 0 rejected" in out
    # adj_factor is the stored one: a close-only row says nothing about adjustments.
    assert stored_day(tmp_path) == [(10.0, 11.0, 9.0, 10.75, 1000.0, 0.5, 2e6, 2)]


@pytest.mark.parametrize("layout", CLOSE_ONLY)
def test_a_close_outside_the_stored_range_is_rejected(stored, tmp_path, capsys, layout):
    code, out = ingest(tmp_path, capsys, CLOSE_ONLY[layout].format(close="9999999"))
    assert code == 0
    assert "0 new rows, 0 changed, 1 rejected" in out
    assert stored_day(tmp_path) == [STORED]
    ((row_number, raw, reason),) = query(
        tmp_path, "select row_number, raw, reason from rejected_rows where batch_id = 2"
    )
    assert row_number == 1
    assert json.loads(raw)["close"] == "9999999"
    assert reason.startswith("close_in_range: close must lie within [low, high]")
    assert '"high":11.0' in reason
    assert '"close":9999999.0' in reason


def test_an_open_outside_the_stored_range_is_rejected(stored, tmp_path, capsys):
    code, out = ingest(tmp_path, capsys, "ticker,date,open,close\nAAA,2020-01-02,50,10.5\n")
    assert code == 0
    assert "0 new rows, 0 changed, 1 rejected" in out
    assert stored_day(tmp_path) == [STORED]
    ((reason,),) = query(tmp_path, "select reason from rejected_rows")
    assert reason.startswith("open_in_range: open must lie within [low, high]")


def test_empty_cells_keep_the_stored_values(stored, tmp_path, capsys):
    text = (
        "ticker,date,open,high,low,close,volume,adj_close,shares_out\nAAA,2020-01-02,,,,10.5,,,\n"
    )
    code, out = ingest(tmp_path, capsys, text)
    assert (code, "0 new rows, 0 changed, 0 rejected" in out) == (0, True)
    assert stored_day(tmp_path) == [STORED]


def test_a_present_value_overwrites_only_its_column(stored, tmp_path, capsys):
    code, out = ingest(tmp_path, capsys, "ticker,date,close,volume\nAAA,2020-01-02,10.5,1500\n")
    assert (code, "0 new rows, 1 changed, 0 rejected" in out) == (0, True)
    assert stored_day(tmp_path) == [(10.0, 11.0, 9.0, 10.5, 1500.0, 0.5, 2e6, 2)]


def test_a_new_range_in_the_file_is_checked_instead_of_the_stored_one(stored, tmp_path, capsys):
    text = "ticker,date,high,low,close\nAAA,2020-01-02,13,9,12.5\n"
    code, out = ingest(tmp_path, capsys, text)
    assert (code, "0 new rows, 1 changed, 0 rejected" in out) == (0, True)
    assert stored_day(tmp_path) == [(10.0, 13.0, 9.0, 12.5, 1000.0, 0.5, 2e6, 2)]


def test_a_row_without_a_close_is_still_rejected(stored, tmp_path, capsys):
    code, out = ingest(tmp_path, capsys, "ticker,date,close,volume\nAAA,2020-01-02,,1500\n")
    assert (code, "0 new rows, 0 changed, 1 rejected" in out) == (0, True)
    assert stored_day(tmp_path) == [STORED]
    assert query(tmp_path, "select reason from rejected_rows") == [
        ("not_nullable: close is missing",)
    ]


def test_a_close_only_row_for_a_new_day_loads_with_unknown_bars(stored, tmp_path, capsys):
    code, out = ingest(
        tmp_path, capsys, CLOSE_ONLY["wide"].replace("01-02", "01-03").format(close=99)
    )
    assert (code, "1 new rows, 0 changed, 0 rejected" in out) == (0, True)
    assert query(
        tmp_path,
        "select open, high, low, close, volume, adj_factor, shares_out from prices "
        "where date = '2020-01-03'",
    ) == [(None, None, None, 99.0, None, 1.0, None)]


def test_a_new_adj_close_changes_the_factor(stored, tmp_path, capsys):
    text = "ticker,date,close,adj_close\nAAA,2020-01-02,10.5,2.625\n"
    code, out = ingest(tmp_path, capsys, text)
    assert (code, "0 new rows, 1 changed, 0 rejected" in out) == (0, True)
    assert stored_day(tmp_path) == [(10.0, 11.0, 9.0, 10.5, 1000.0, 0.25, 2e6, 2)]


def test_duplicate_key_still_rejects_both_copies_of_a_stored_day(stored, tmp_path, capsys):
    text = "ticker,date,close\nAAA,2020-01-02,10.5\nAAA,2020-01-02,10.6\n"
    code, out = ingest(tmp_path, capsys, text)
    assert (code, "0 new rows, 0 changed, 2 rejected" in out) == (0, True)
    assert stored_day(tmp_path) == [STORED]
    reasons = query(tmp_path, "select row_number, reason from rejected_rows order by row_number")
    assert [(n, r.split(":")[0]) for n, r in reasons] == [
        (1, "duplicate_key"),
        (2, "duplicate_key"),
    ]


# --- tickers: trimmed, upper-cased unless --keep-ticker-case, bounded -----------------------


def tickers(tmp_path):
    return query(tmp_path, "select ticker, date::varchar, close from prices order by all")


def rejected(tmp_path):
    return query(tmp_path, "select row_number, raw, reason from rejected_rows order by row_number")


def test_tickers_are_trimmed_and_upper_cased(tmp_path, capsys):
    text = "ticker,date,close\n zza ,2020-01-02,1\nZzb,2020-01-02,2\n"
    code, out = ingest(tmp_path, capsys, text)
    assert (code, "2 new rows, 0 changed, 0 rejected" in out) == (0, True)
    assert tickers(tmp_path) == [("ZZA", "2020-01-02", 1.0), ("ZZB", "2020-01-02", 2.0)]


def test_a_wide_files_ticker_headers_are_upper_cased(tmp_path, capsys):
    code, out = ingest(tmp_path, capsys, "date,zza\n2020-01-02,1\n")
    assert (code, "1 new rows, 0 changed, 0 rejected" in out) == (0, True)
    assert tickers(tmp_path) == [("ZZA", "2020-01-02", 1.0)]


def test_two_spellings_of_one_ticker_on_one_date_are_a_duplicate_key(tmp_path, capsys):
    text = "ticker,date,close\nzza,2020-01-02,1\nZZA ,2020-01-02,2\nZZA,2020-01-03,3\n"
    code, out = ingest(tmp_path, capsys, text)
    assert (code, "1 new rows, 0 changed, 2 rejected" in out) == (0, True)
    assert tickers(tmp_path) == [("ZZA", "2020-01-03", 3.0)]
    rows = [(n, json.loads(raw)["ticker"], reason) for n, raw, reason in rejected(tmp_path)]
    duplicate = "duplicate_key: (ticker, date) appears more than once in this batch"
    assert rows == [(1, "zza", duplicate), (2, "ZZA ", duplicate)]


def test_a_lower_case_file_restates_the_stored_upper_case_day(tmp_path, capsys):
    ingest(tmp_path, capsys, "ticker,date,close\nZZA,2020-01-02,1\n", "a.csv")
    code, out = ingest(tmp_path, capsys, "ticker,date,close\nzza,2020-01-02,1\n", "b.csv")
    assert (code, "0 new rows, 0 changed, 0 rejected" in out) == (0, True)
    assert tickers(tmp_path) == [("ZZA", "2020-01-02", 1.0)]


def test_keep_ticker_case_keeps_two_spellings_apart(tmp_path, capsys):
    text = "ticker,date,close\n zza ,2020-01-02,1\nZZA,2020-01-02,2\n"
    code, out = ingest(tmp_path, capsys, text, "p.csv", "--keep-ticker-case")
    assert (code, "2 new rows, 0 changed, 0 rejected" in out) == (0, True)
    assert tickers(tmp_path) == [("ZZA", "2020-01-02", 2.0), ("zza", "2020-01-02", 1.0)]


def test_a_ticker_longer_than_the_limit_is_rejected(tmp_path, capsys):
    text = f"ticker,date,close\n{'A' * 32},2020-01-02,1\n{'B' * 33},2020-01-02,2\n"
    code, out = ingest(tmp_path, capsys, text)
    assert (code, "1 new rows, 0 changed, 1 rejected" in out) == (0, True)
    assert tickers(tmp_path) == [("A" * 32, "2020-01-02", 1.0)]
    ((row_number, raw, reason),) = rejected(tmp_path)
    assert (row_number, json.loads(raw)["ticker"]) == (2, "B" * 33)
    assert reason == "ticker_length: ticker must be at most MAX_TICKER_CHARS=32 characters"


@pytest.mark.parametrize("control", ["\x07", "\x1b", "\x7f", "\u0085"])
def test_a_ticker_with_a_control_character_is_rejected(tmp_path, capsys, control):
    text = f"ticker,date,close\nZZA,2020-01-02,1\nZ{control}B,2020-01-02,2\n"
    code, out = ingest(tmp_path, capsys, text)
    assert (code, "1 new rows, 0 changed, 1 rejected" in out) == (0, True)
    assert tickers(tmp_path) == [("ZZA", "2020-01-02", 1.0)]
    ((row_number, raw, reason),) = rejected(tmp_path)
    assert (row_number, json.loads(raw)["ticker"]) == (2, f"Z{control}B")
    assert reason == "ticker_characters: ticker must not hold control characters"


def test_huge_cells_are_kept_shortened_in_rejected_rows(tmp_path, capsys):
    huge = "x" * 1000
    text = f"ticker,date,close,volume\n{huge},2020-01-02,1,5\nZZA,2020-01-02,1,{huge}\n"
    code, out = ingest(tmp_path, capsys, text)
    assert (code, "0 new rows, 0 changed, 2 rejected" in out) == (0, True)
    shortened = "x" * 200 + "...(1000 chars)"
    assert [(n, json.loads(raw), reason) for n, raw, reason in rejected(tmp_path)] == [
        (
            1,
            {"ticker": shortened, "date": "2020-01-02", "close": "1", "volume": "5"},
            "ticker_length: ticker must be at most MAX_TICKER_CHARS=32 characters",
        ),
        (
            2,
            {"ticker": "ZZA", "date": "2020-01-02", "close": "1", "volume": shortened},
            f"number_parses: volume '{shortened}' is not a number",
        ),
    ]


def test_a_20_mb_ticker_is_rejected_and_kept_shortened(cae_home):
    import datetime as dt

    import polars as pl

    from cae.warehouse import ingest

    huge = "Z" * (20 << 20)
    frame = pl.DataFrame(
        {
            "ticker": [huge, huge, "ZZA"],
            "date": [dt.date(2020, 1, 2), dt.date(2020, 1, 3), dt.date(2020, 1, 2)],
            "high": [1.0, 1.0, 1.0],
            "close": [1.0, 2.0, 1.0],
        }
    )
    con = warehouse.connect()
    try:
        report = ingest.ingest_frame(con, frame, source="test", file=None)
        stored = con.execute("select ticker from prices").fetchall()
        rejects = con.execute("select raw, reason from rejected_rows order by all").fetchall()
    finally:
        con.close()
    assert (report.rows_new, report.rows_rejected, stored) == (1, 2, [("ZZA",)])
    shortened = "Z" * 200 + f"...({20 << 20} chars)"
    assert [json.loads(raw)["ticker"] for raw, _ in rejects] == [shortened, shortened]
    too_long = "ticker_length: ticker must be at most MAX_TICKER_CHARS=32 characters"
    assert rejects[0][1] == too_long
    # The failure case of a row-level rule is the row, with the ticker cut as in `raw`.
    assert rejects[1][1].startswith(f"{too_long}; close_in_range: ")
    assert f'"ticker":"{shortened}"' in rejects[1][1]
    assert len(rejects[1][1]) < 1000


def test_a_ticker_is_cut_only_where_validation_rejects_it_anyway():
    from cae.warehouse.schemas import MAX_TICKER_CHARS
    from cae.warehouse.sources.coerce import MAX_RAW_CELL_CHARS

    assert MAX_TICKER_CHARS < MAX_RAW_CELL_CHARS
