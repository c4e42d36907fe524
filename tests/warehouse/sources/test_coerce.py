import datetime as dt

import polars as pl
import pytest

from cae.errors import FileFormatError
from cae.warehouse.sources.coerce import coerce_prices, infer_date_format


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2020-01-02", "2020-01-03"], "%Y-%m-%d"),
        (["20200102", "20200103"], "%Y%m%d"),
        (["01/31/2020", "02/01/2020"], "%m/%d/%Y"),
        (["31/01/2020", "01/02/2020"], "%d/%m/%Y"),
        (["31.01.2020"], "%d.%m.%Y"),
        (["2020-01-02", "2020-01-03", "01/04/2020"], "%Y-%m-%d"),
    ],
)
def test_infer_date_format_picks_the_majority(values, expected):
    assert infer_date_format(pl.Series(values)) == expected


def test_integer_dates_are_yyyymmdd():
    raw = pl.DataFrame({"ticker": ["A"], "date": [20100820], "close": [1.0]})
    assert coerce_prices(raw)["date"].item() == dt.date(2010, 8, 20)


def test_datetime_dates_become_dates():
    raw = pl.DataFrame({"ticker": ["A"], "date": [dt.datetime(2010, 8, 20, 16)], "close": [1.0]})
    assert coerce_prices(raw)["date"].item() == dt.date(2010, 8, 20)


def test_parse_failures_are_named_per_cell_and_empty_cells_are_null():
    raw = pl.DataFrame(
        {
            "ticker": [" A ", "B", "C"],
            "date": ["2020-01-02", "2020-13-45", ""],
            "close": ["1.5", "1,5", ""],
            "volume": ["", "7", "x"],
        }
    )
    out = coerce_prices(raw)
    assert out["ticker"].to_list() == ["A", "B", "C"]
    assert out["close"].to_list() == [1.5, None, None]
    assert out["problem"].to_list() == [
        None,
        "date_parses: date '2020-13-45' does not match %Y-%m-%d; "
        "number_parses: close '1,5' is not a number",
        "number_parses: volume 'x' is not a number",
    ]


def test_adj_close_becomes_a_factor_on_close_and_none_is_unknown():
    raw = pl.DataFrame({"ticker": ["A", "A"], "date": ["2020-01-02", "2020-01-03"]}).with_columns(
        close=pl.Series([10.0, 8.0]), adj_close=pl.Series([5.0, None])
    )
    # Unknown, not 1.0: a row without adj_close must not reset a stored factor.
    assert coerce_prices(raw)["adj_factor"].to_list() == [0.5, None]


def test_missing_required_column_is_a_file_format_error():
    with pytest.raises(FileFormatError, match="missing required column"):
        coerce_prices(pl.DataFrame({"ticker": ["A"], "date": ["2020-01-02"]}))
