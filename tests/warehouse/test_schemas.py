import datetime as dt

import pandera.errors as pa_errors
import polars as pl
import pytest

from cae.warehouse.schemas import (
    MAX_PRICE,
    MAX_TICKER_CHARS,
    OPEN_RANGE_TOLERANCE,
    RULE_MESSAGES,
    Prices,
)


def prices(**overrides):
    row = {
        "ticker": "AAA",
        "date": dt.date(2020, 1, 2),
        "open": 10.0,
        "high": 11.0,
        "low": 9.0,
        "close": 10.5,
        "volume": 1000.0,
        "adj_factor": 1.0,
        "shares_out": None,
    }
    row.update(overrides)
    schema = {
        "ticker": pl.Utf8,
        "date": pl.Date,
        **{c: pl.Float64 for c in ("open", "high", "low", "close", "volume")},
        "adj_factor": pl.Float64,
        "shares_out": pl.Float64,
    }
    return pl.DataFrame([row], schema=schema)


def failed_checks(frame):
    with pytest.raises(pa_errors.SchemaErrors) as caught:
        Prices.validate(frame, lazy=True)
    return set(caught.value.failure_cases["check"].to_list())


def test_a_clean_row_passes():
    assert Prices.validate(prices(), lazy=True).height == 1


def test_a_ticker_at_the_length_limit_with_inner_spaces_passes():
    assert Prices.validate(prices(ticker="B" * (MAX_TICKER_CHARS - 2) + " C")).height == 1


def test_open_and_volume_may_be_missing():
    assert Prices.validate(prices(open=None, volume=None, high=None, low=None)).height == 1


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        ({"close": -1.0, "low": -2.0}, "price_positive"),
        ({"high": float("inf")}, "finite"),
        ({"open": float("nan")}, "finite"),
        ({"high": MAX_PRICE * 10, "close": MAX_PRICE * 5}, "price_below_max"),
        ({"volume": -1.0}, "volume_nonnegative"),
        ({"volume": 1e300}, "volume_below_max"),
        ({"close": 11.5}, "close_in_range"),
        ({"open": 8.0}, "open_in_range"),
        ({"date": dt.date(2999, 1, 1)}, "date_not_future"),
        ({"date": dt.date(1800, 1, 1)}, "date_after_min"),
        ({"ticker": ""}, "ticker_nonempty"),
        ({"ticker": "A" * (MAX_TICKER_CHARS + 1)}, "ticker_length"),
        ({"ticker": "A\nB"}, "ticker_characters"),
        ({"close": None}, "not_nullable"),
    ],
)
def test_each_rule_names_its_check(overrides, check):
    assert check in failed_checks(prices(**overrides))
    assert check in RULE_MESSAGES


def test_open_slightly_outside_the_range_is_tolerated():
    inside = 11.0 * (1 + OPEN_RANGE_TOLERANCE / 2)
    assert Prices.validate(prices(open=inside)).height == 1


def test_duplicate_key_is_reported_for_both_rows():
    frame = pl.concat([prices(), prices(close=10.0)])
    with pytest.raises(pa_errors.SchemaErrors) as caught:
        Prices.validate(frame, lazy=True)
    cases = caught.value.failure_cases
    assert sorted(cases.filter(check="duplicate_key")["index"].to_list()) == [0, 1]


@pytest.mark.parametrize("order", ["sorted", "shuffled"])
@pytest.mark.parametrize("n_duplicates", [0, 3])
def test_duplicate_key_matches_a_naive_count(order, n_duplicates):
    tickers = [f"T{i}" for i in range(5) for _ in range(20)]
    dates = [dt.date(2020, 1, 1) + dt.timedelta(days=d) for _ in range(5) for d in range(20)]
    base = pl.concat([prices()] * 100).with_columns(
        ticker=pl.Series(tickers), date=pl.Series(dates)
    )
    frame = pl.concat([base, base.slice(10, n_duplicates)])
    frame = (
        frame.sort("ticker", "date")
        if order == "sorted"
        else frame.sample(fraction=1.0, shuffle=True, seed=7)
    )
    naive = {}
    for row in frame.select("ticker", "date").iter_rows():
        naive[row] = naive.get(row, 0) + 1
    expected = sum(count for count in naive.values() if count > 1)
    if expected == 0:
        assert Prices.validate(frame, lazy=True).height == 100
        return
    with pytest.raises(pa_errors.SchemaErrors) as caught:
        Prices.validate(frame, lazy=True)
    assert caught.value.failure_cases.filter(check="duplicate_key").height == expected == 6
