import datetime as dt
import shutil

import polars as pl
import pytest

from cae import warehouse
from cae.errors import DataError
from cae.warehouse.actions import detect_actions, list_aliases, read_actions_file
from tests.support.prices import insert_prices


@pytest.fixture
def sample_con(sample_warehouse, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(sample_warehouse, home)
    return warehouse.connect(home)


def _applied(actions):
    return {
        (row["ticker"], str(row["date"]), round(row["ratio"], 4))
        for row in actions.filter("is_applied").iter_rows(named=True)
    }


def test_sample_splits_are_detected_and_takeovers_are_not(sample_con):
    applied = _applied(detect_actions(sample_con))
    assert ("DHR", "2010-06-14", 2.0) in applied
    assert ("ESRX", "2010-06-08", 2.0) in applied
    assert ("GIS", "2010-06-09", 2.0) in applied
    assert ("ETFC", "2010-06-02", 0.1) in applied
    flagged = {ticker for ticker, _, _ in applied}
    assert "ARG" not in flagged
    assert "MFE" not in flagged
    assert "CAH" not in flagged  # CareFusion spin-off: -27%, not a 3:2 split


def test_etfcd_is_stitched_onto_etfc(sample_con):
    detect_actions(sample_con)
    aliases = list_aliases(sample_con)
    assert aliases.select("alias", "ticker").rows() == [("ETFCD", "ETFC")]
    n_rows = sample_con.execute(
        "select count(*) from prices_stitched where ticker = 'ETFC'"
    ).fetchall()[0][0]
    assert n_rows == 240


def test_detected_split_keeps_its_evidence(sample_con):
    actions = detect_actions(sample_con)
    dhr = actions.filter(ticker="DHR").row(0, named=True)
    assert dhr["kind"] == "split"
    assert dhr["close_ratio"] == pytest.approx(39.66 / 78.67, rel=1e-3)
    assert "volume x1.50 of the prior median" in dhr["evidence"]


def _two_day_prices(close_ratio, open_ratio, volume_ratio):
    dates = [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(30)]
    close = [100.0] * 15 + [100.0 * close_ratio] * 15
    opens = [100.0] * 15 + [100.0 * open_ratio] + [100.0 * close_ratio] * 14
    volume = [1e6] * 15 + [1e6 * volume_ratio] * 15
    return pl.DataFrame(
        {
            "ticker": ["X"] * 30,
            "date": dates,
            "open": opens,
            "high": close,
            "low": close,
            "close": close,
            "volume": volume,
        }
    )


@pytest.mark.parametrize(
    ("close_ratio", "open_ratio", "volume_ratio", "expected"),
    [
        (0.5, 0.5, 2.0, {2.0}),  # 2:1 split
        (3.0, 3.0, 0.33, {1 / 3}),  # 1:3 reverse split
        (0.5, 1.0, 2.0, set()),  # open did not gap: news during the day, not a split
        (1.5, 1.5, 30.0, set()),  # takeover: volume explodes instead of dropping by 1/1.5
    ],
)
def test_detection_needs_close_open_and_volume(
    cae_home, close_ratio, open_ratio, volume_ratio, expected
):
    con = warehouse.connect()
    insert_prices(con, _two_day_prices(close_ratio, open_ratio, volume_ratio))
    actions = detect_actions(con)
    assert {round(r, 6) for r in actions["ratio"]} == {round(r, 6) for r in expected}


def test_user_file_wins_over_detection(cae_home, tmp_path):
    con = warehouse.connect()
    insert_prices(con, _two_day_prices(0.5, 0.5, 2.0))
    actions_file = tmp_path / "actions.csv"
    actions_file.write_text("ticker,date,ratio\nX,2020-01-16,1\n")
    actions = detect_actions(con, actions_file)
    applied = actions.filter("is_applied").select("source", "ratio").rows()
    assert applied == [("file", 1.0)]


def test_vendor_factor_wins_over_detection(cae_home):
    con = warehouse.connect()
    prices = _two_day_prices(0.5, 0.5, 2.0).with_columns(
        pl.when(pl.col("date") < dt.date(2020, 1, 16)).then(0.5).otherwise(1.0).alias("adj_factor")
    )
    insert_prices(con, prices)
    applied = detect_actions(con).filter("is_applied").select("source", "ratio").rows()
    assert applied == [("adj_close", 2.0)]


def test_bad_actions_file_names_file_line_and_rule(tmp_path):
    path = tmp_path / "actions.csv"
    path.write_text("ticker,date,ratio\nX,2020-01-16,2\nY,2020-13-01,2\n")
    with pytest.raises(DataError, match=r"actions\.csv: line\(s\) 3: date is not YYYY-MM-DD"):
        read_actions_file(path)
    path.write_text("ticker,date,ratio\nX,2020-01-16,-2\n")
    with pytest.raises(DataError, match=r"line\(s\) 2: ratio is not a positive number"):
        read_actions_file(path)


def test_detecting_day_by_day_finds_what_detecting_everything_at_once_finds(
    sample_con, tmp_path, monkeypatch
):
    from cae.warehouse import actions
    from cae.warehouse.ingest import ingest_frame

    windows = []
    real_window = actions._window
    monkeypatch.setattr(
        actions, "_window", lambda *a: windows.append(real_window(*a)) or windows[-1]
    )

    prices = sample_con.sql("select * exclude (batch_id, source) from prices").pl()
    home = tmp_path / "daily"
    con = warehouse.connect(home)
    june = (pl.col("date") >= dt.date(2010, 6, 1)) & (pl.col("date") < dt.date(2010, 7, 1))
    ingest_frame(con, prices.filter(pl.col("date") < dt.date(2010, 6, 1)), source="t", file=None)
    detect_actions(con)
    for day in prices.filter(june)["date"].unique().sort():  # the sample's splits and ETFCD
        ingest_frame(con, prices.filter(pl.col("date") == day), source="t", file=None)
        detect_actions(con)
    ingest_frame(con, prices.filter(pl.col("date") >= dt.date(2010, 7, 1)), source="t", file=None)
    day_by_day = detect_actions(con)
    assert ("DHR", "2010-06-14", 2.0) in _applied(day_by_day)
    # Each new day was detected from its own date on, reading a few weeks before it.
    assert sum(w["since"] is not None for w in windows) >= 20
    con.execute("delete from actions_state")  # as if detection never ran: all history
    assert detect_actions(con).equals(day_by_day)
    assert detect_actions(sample_con).equals(day_by_day)
