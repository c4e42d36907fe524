"""One daily-return view (`daily_returns`) feeds both the daily base and the market return."""

import shutil

import polars as pl
import pytest
from polars.testing import assert_series_equal

from cae import warehouse
from cae.warehouse import query_frame
from cae.warehouse.actions import detect_actions


@pytest.fixture(scope="module")
def sample_con(sample_warehouse, tmp_path_factory):
    home = tmp_path_factory.mktemp("returns")
    shutil.copytree(sample_warehouse, home, dirs_exist_ok=True)
    con = warehouse.connect(home)
    detect_actions(con)  # the June 2010 splits enter the returns
    return con


def _daily_base(con):
    first = query_frame(con, "prices#date_range")["first_date"][0]
    params = {"from_date": first, "lookback": 0, "ticker_from": "", "ticker_to": None}
    return query_frame(con, "daily_base", params)


def test_market_return_is_the_mean_of_daily_base_returns_per_date(sample_con):
    base = _daily_base(sample_con)
    mean = base.group_by("date").agg(pl.col("ret").mean().alias("mkt_ret")).sort("date")
    market = query_frame(sample_con, "market_returns")
    assert market.height == mean.height == 245
    assert_series_equal(market["date"], mean["date"])
    assert_series_equal(market["mkt_ret"], mean["mkt_ret"], abs_tol=1e-15)


def test_daily_base_returns_are_the_view_returns(sample_con):
    view = sample_con.sql("select ticker, date, ret from daily_returns order by ticker, date").pl()
    base = _daily_base(sample_con).select("ticker", "date", "ret")
    assert base.height == view.height > 100_000
    assert base.equals(view)


def test_a_split_day_return_is_adjusted_in_the_view(sample_con):
    # DHR split 2:1 in June 2010: the raw close halves, the adjusted return stays small.
    rows = sample_con.sql(
        "select date, split_ratio, ret from daily_returns where ticker = 'DHR' and split_ratio <> 1"
    ).pl()
    assert rows["split_ratio"].to_list() == [2.0]
    assert abs(rows["ret"][0]) < 0.1


def test_migration_three_upgrades_a_version_two_warehouse(tmp_path):
    import duckdb

    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    warehouse.run_sql(con, "schema_migrations#create")
    for version, name in ((1, "0001_warehouse"), (2, "0002_characteristics")):
        con.execute(warehouse.read_sql(f"migrations/{name}"))
        warehouse.run_sql(con, "schema_migrations#record", {"version": version, "name": name})
    con.execute(
        "insert into prices values ('AAA', '2020-01-02', 1, 1, 1, 10, 100, 1, 5e6, 'x', 1), "
        "('AAA', '2020-01-03', 1, 1, 1, 11, 100, 1, 5e6, 'x', 1)"
    )
    con.execute(
        "insert into panel_meta (freq, source, char_names, built_at) "
        "values ('daily', 'computed', '[]', now())"
    )
    assert warehouse.apply_migrations(con)[0] == "0003_shares_and_daily_returns"
    assert con.execute("select std_turn_source from panel_meta").fetchall() == [(None,)]
    rows = con.execute("select shares_out, ret from daily_returns order by date").fetchall()
    assert rows[0][0] == 5e6 and rows[0][1] is None
    assert rows[1][1] == pytest.approx(0.1, rel=1e-12)
