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
