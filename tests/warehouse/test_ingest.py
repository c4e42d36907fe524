import datetime as dt
import json

import polars as pl
import pytest

from cae import warehouse
from cae.errors import FileFormatError
from cae.warehouse import ingest

HEADER = "ticker,date,open,high,low,close,volume\n"
GOOD = [
    "AAA,2020-01-02,10,11,9,10.5,1000",
    "AAA,2020-01-03,10.5,11.5,10,11,1200",
    "BBB,2020-01-02,50,51,49,50.5,300",
]


def write_csv(path, lines, header=HEADER):
    path.write_text(header + "\n".join(lines) + "\n")
    return path


def table(con, sql):
    return con.sql(sql).pl()


def snapshot(con):
    return {
        name: con.execute(f"select * from {name} order by all").fetchall()
        for name in ("prices", "tickers", "ingest_batches", "rejected_rows")
    }


@pytest.fixture
def con(cae_home):
    connection = warehouse.connect()
    yield connection
    connection.close()


def test_good_file_loads_every_row(con, tmp_path):
    (report,) = ingest.ingest_source(con, str(write_csv(tmp_path / "p.csv", GOOD)))
    assert (report.rows_in, report.rows_new, report.rows_changed, report.rows_rejected) == (
        3,
        3,
        0,
        0,
    )
    row = con.sql("select * from prices where ticker = 'AAA' order by date").pl().row(1, named=True)
    assert row["date"] == dt.date(2020, 1, 3)
    assert row["close"] == 11.0
    assert row["volume"] == 1200.0
    assert row["adj_factor"] == 1.0
    assert row["source"] == "files"
    assert row["batch_id"] == report.batch_id


def test_reingesting_the_same_file_changes_nothing(con, tmp_path):
    path = write_csv(tmp_path / "p.csv", GOOD)
    ingest.ingest_source(con, str(path))
    before = con.execute("select * from prices order by all").fetchall()
    (again,) = ingest.ingest_source(con, str(path))
    assert (again.rows_new, again.rows_changed, again.rows_rejected) == (0, 0, 0)
    assert con.execute("select * from prices order by all").fetchall() == before


def test_a_correction_updates_one_row(con, tmp_path):
    ingest.ingest_source(con, str(write_csv(tmp_path / "p.csv", GOOD)))
    fixed = [GOOD[0], "AAA,2020-01-03,10.5,11.5,10,11.25,1200", GOOD[2]]
    (report,) = ingest.ingest_source(con, str(write_csv(tmp_path / "fix.csv", fixed)))
    assert (report.rows_new, report.rows_changed) == (0, 1)
    rows = con.execute("select ticker, date, close, batch_id from prices order by all").fetchall()
    assert rows[1][2] == 11.25
    assert rows[1][3] == report.batch_id
    assert rows[0][3] != report.batch_id


# The bad-input corpus: (name, bad line, expected reason fragment). Each file also holds GOOD.
BAD_ROWS = [
    (
        "text_in_number",
        "CCC,2020-01-02,10,11,9,abc,100",
        "number_parses: close 'abc' is not a number",
    ),
    (
        "negative_price",
        "CCC,2020-01-02,10,11,9,-10,100",
        "price_positive: close must be > 0 (got -10.0)",
    ),
    ("zero_price", "CCC,2020-01-02,0,11,9,10,100", "price_positive: open must be > 0 (got 0.0)"),
    ("nan_price", "CCC,2020-01-02,10,11,9,NaN,100", "close is missing"),
    ("nan_open", "CCC,2020-01-02,NaN,11,9,10,100", "finite: open must be finite (got NaN)"),
    ("inf_price", "CCC,2020-01-02,10,inf,9,10,100", "finite: high must be finite (got inf)"),
    (
        "absurd_price",
        "CCC,2020-01-02,10,1e300,9,10,100",
        "price_below_max: high must be <= MAX_PRICE=1e+07",
    ),
    (
        "negative_volume",
        "CCC,2020-01-02,10,11,9,10,-5",
        "volume_nonnegative: volume must be >= 0 (got -5.0)",
    ),
    (
        "high_below_close",
        "CCC,2020-01-02,10,10.5,9,11,100",
        "close_in_range: close must lie within [low, high]",
    ),
    (
        "low_above_open",
        "CCC,2020-01-02,8,11,9,10,100",
        "open_in_range: open must lie within [low, high]",
    ),
    (
        "future_date",
        "CCC,2999-01-02,10,11,9,10,100",
        "date_not_future: date 2999-01-02 is in the future",
    ),
    (
        "ancient_date",
        "CCC,1066-10-14,10,11,9,10,100",
        "date_after_min: date 1066-10-14 is before MIN_DATE",
    ),
    (
        "other_date_format",
        "CCC,01/02/2020,10,11,9,10,100",
        "date_parses: date '01/02/2020' does not match %Y-%m-%d",
    ),
    ("missing_close", "CCC,2020-01-02,10,11,9,,100", "not_nullable: close is missing"),
    ("empty_ticker", ",2020-01-02,10,11,9,10,100", "not_nullable: ticker is missing"),
]


@pytest.mark.parametrize(("name", "line", "reason"), BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_bad_row_is_rejected_with_its_rule_and_good_rows_load(con, tmp_path, name, line, reason):
    path = write_csv(tmp_path / f"{name}.csv", [GOOD[0], line, *GOOD[1:]])
    (report,) = ingest.ingest_source(con, str(path))
    assert (report.rows_in, report.rows_new, report.rows_rejected) == (4, 3, 1)
    rejected = table(con, "select * from rejected_rows")
    assert rejected["row_number"].to_list() == [2]
    assert reason in rejected["reason"].item()
    assert json.loads(rejected["raw"].item())["ticker"] == (line.split(",")[0] or None)
    assert con.execute("select count(*) from prices where ticker = 'CCC'").fetchone()[0] == 0


def test_duplicate_key_rejects_every_copy(con, tmp_path):
    lines = [*GOOD, "AAA,2020-01-02,10,11,9,10.6,1000"]
    (report,) = ingest.ingest_source(con, str(write_csv(tmp_path / "dup.csv", lines)))
    assert (report.rows_new, report.rows_rejected) == (2, 2)
    rejected = table(con, "select row_number, reason from rejected_rows order by row_number")
    assert rejected["row_number"].to_list() == [1, 4]
    assert (
        rejected["reason"].to_list()
        == ["duplicate_key: (ticker, date) appears more than once in this batch"] * 2
    )


def test_a_row_breaking_two_rules_names_both(con, tmp_path):
    path = write_csv(tmp_path / "two.csv", ["CCC,2020-01-02,-1,11,9,10,-7"])
    ingest.ingest_source(con, str(path))
    reason = con.execute("select reason from rejected_rows").fetchone()[0]
    assert "price_positive: open" in reason
    assert "volume_nonnegative" in reason


def test_mixed_date_formats_keep_the_majority_format(con, tmp_path):
    lines = [*GOOD, "CCC,2020/01/02,10,11,9,10,100", "DDD,20200102,10,11,9,10,100"]
    (report,) = ingest.ingest_source(con, str(write_csv(tmp_path / "mixed.csv", lines)))
    assert (report.rows_new, report.rows_rejected) == (3, 2)
    reasons = table(con, "select reason from rejected_rows order by row_number")["reason"]
    assert reasons.to_list() == [
        "date_parses: date '2020/01/02' does not match %Y-%m-%d",
        "date_parses: date '20200102' does not match %Y-%m-%d",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"\n\n  \n", "the file is empty"),
        (HEADER.encode(), "a header but no data rows"),
        (b"foo,bar,baz\n1,2,3\n", "no ticker column and not a wide table of closes"),
        (b"ticker,day,price\nAAA,2020-01-02,1\n", "missing required column(s) date, close"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary content, not a text CSV"),
    ],
    ids=["empty", "blank", "header_only", "wrong_columns", "missing_columns", "binary"],
)
def test_unreadable_file_raises_naming_the_file_and_expectation(con, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(FileFormatError) as caught:
        ingest.ingest_source(con, str(path))
    text = str(caught.value)
    assert message in text
    assert str(path) in text
    assert "expected a CSV" in text
    assert snapshot(con)["ingest_batches"] == []


def test_corrupt_parquet_raises_file_format_error(con, tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 this is not really parquet PAR1")
    with pytest.raises(FileFormatError, match=r"bad\.parquet: not a readable Parquet file"):
        ingest.ingest_source(con, str(path))


def test_missing_path_raises(con, tmp_path):
    with pytest.raises(FileFormatError, match=r"nope\*\.csv: no such file"):
        ingest.ingest_source(con, str(tmp_path / "nope*.csv"))


@pytest.mark.parametrize(
    "step", ["prices#insert_new", "prices#update_changed", "rejected_rows_insert"]
)
def test_crash_mid_load_leaves_the_warehouse_unchanged(con, tmp_path, monkeypatch, step):
    ingest.ingest_source(con, str(write_csv(tmp_path / "p.csv", GOOD[:2])))
    before = snapshot(con)
    real_run_sql = ingest.run_sql

    def crashing_run_sql(connection, name, params=None):
        result = real_run_sql(connection, name, params)
        if name == step:
            raise RuntimeError(f"crash after {name}")
        return result

    monkeypatch.setattr(ingest, "run_sql", crashing_run_sql)
    changed = ["AAA,2020-01-02,10,11,9,10.75,1000", GOOD[2], "CCC,2020-01-02,-1,11,9,10,1"]
    with pytest.raises(RuntimeError, match=f"crash after {step}"):
        ingest.ingest_source(con, str(write_csv(tmp_path / "q.csv", changed)))
    assert snapshot(con) == before
    monkeypatch.undo()
    (report,) = ingest.ingest_source(con, str(tmp_path / "q.csv"))
    assert (report.rows_new, report.rows_changed, report.rows_rejected) == (1, 1, 1)


def test_ingest_frame_accepts_typed_frames_and_adj_close(con):
    frame = pl.DataFrame(
        {
            "ticker": ["AAA", "AAA"],
            "date": [dt.date(2020, 1, 2), dt.date(2020, 1, 3)],
            "close": [10.0, 20.0],
            "adj_close": [5.0, None],
            "shares_out": [1e6, 1e6],
        }
    )
    report = ingest.ingest_frame(con, frame, source="test", file=None)
    assert (report.rows_new, report.rows_rejected, report.file) == (2, 0, None)
    rows = con.execute("select adj_factor, shares_out, open from prices order by date").fetchall()
    assert rows == [(0.5, 1e6, None), (1.0, 1e6, None)]


def test_future_rows_do_not_change_stored_past_rows(con, tmp_path):
    ingest.ingest_source(con, str(write_csv(tmp_path / "p.csv", GOOD)))
    past = con.execute("select * from prices order by all").fetchall()
    later = ["AAA,2020-01-06,11,12,10,11.5,900", "BBB,2020-01-06,50,52,49,51,100"]
    (report,) = ingest.ingest_source(con, str(write_csv(tmp_path / "later.csv", later)))
    assert (report.rows_new, report.rows_changed) == (2, 0)
    stored = con.execute("select * from prices where date < '2020-01-06' order by all").fetchall()
    assert stored == past


def test_sample_loads_once_with_its_tickers(con):
    (first,) = ingest.ingest_source(con, "sample")
    assert (first.rows_in, first.rows_new, first.rows_rejected) == (122_574, 122_574, 0)
    counts = con.execute("select count(*), count(distinct ticker) from prices").fetchone()
    assert counts == (122_574, 524)
    assert con.execute("select sector from tickers where ticker = 'MMM'").fetchone() == (
        "Industrials",
    )
    (second,) = ingest.ingest_source(con, "sample")
    assert (second.rows_new, second.rows_changed, second.rows_rejected) == (0, 0, 0)


def test_an_unreadable_file_does_not_hold_back_the_others(con, tmp_path):
    good = write_csv(tmp_path / "a.csv", GOOD)
    (tmp_path / "b.csv").write_text("")
    with pytest.raises(FileFormatError) as caught:
        ingest.ingest_source(con, [str(tmp_path / "b.csv"), str(good)])
    assert str(caught.value).startswith("1 unreadable file(s) (1 other file(s) ingested): ")
    assert "b.csv: the file is empty" in str(caught.value)
    assert con.execute("select count(*) from prices").fetchone() == (3,)


def test_a_missing_path_stops_before_anything_loads(con, tmp_path):
    good = write_csv(tmp_path / "a.csv", GOOD)
    with pytest.raises(FileFormatError, match="no such file"):
        ingest.ingest_source(con, [str(good), str(tmp_path / "missing.csv")])
    assert snapshot(con)["ingest_batches"] == []


def test_wide_parquet_ingests_closes_only(con, tmp_path):
    path = tmp_path / "wide.parquet"
    pl.DataFrame(
        {
            "Date": [dt.date(2020, 1, 2), dt.date(2020, 1, 3)],
            "AAA": [10.0, None],
            "BBB": [20.0, -1.0],
        }
    ).write_parquet(path)
    (report,) = ingest.ingest_source(con, str(path))
    assert (report.rows_in, report.rows_new, report.rows_rejected) == (3, 2, 1)
    rows = con.execute("select ticker, close, open from prices order by all").fetchall()
    assert rows == [("AAA", 10.0, None), ("BBB", 20.0, None)]
    assert con.execute("select row_number from rejected_rows").fetchone() == (2,)
