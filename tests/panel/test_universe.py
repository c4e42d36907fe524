import datetime as dt
import math

import polars as pl

from cae.panel.universe import UniverseConfig, flag_universe, universe_counts


def _rows():
    return pl.DataFrame(
        {
            "date": [dt.date(2024, 1, 5)] * 4,
            "ticker": ["CHEAP", "YOUNG", "THIN", "OK"],
            "close": [0.5, 20.0, 20.0, 20.0],
            "n_obs": [300, 5, 300, 300],
            "dolvol": [math.log(1e7), math.log(1e7), math.log(5e4), math.log(1e7)],
        }
    )


def test_each_filter_removes_its_ticker():
    flagged = flag_universe(_rows(), UniverseConfig())
    assert flagged.filter("is_in_universe")["ticker"].to_list() == ["OK"]


def test_counts_are_kept_after_each_filter():
    counts = universe_counts(_rows(), UniverseConfig(), "weekly").row(0, named=True)
    assert counts == {
        "freq": "weekly",
        "date": dt.date(2024, 1, 5),
        "n_total": 4,
        "n_price": 3,
        "n_history": 2,
        "n_dollar_volume": 1,
        "n_universe": 1,
    }


def test_missing_dollar_volume_is_not_in_the_universe():
    rows = _rows().with_columns(pl.lit(None, dtype=pl.Float64).alias("dolvol"))
    assert flag_universe(rows, UniverseConfig())["is_in_universe"].sum() == 0
