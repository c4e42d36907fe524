import datetime as dt

import polars as pl
import pytest

from cae.errors import ConfigError
from cae.panel.frequency import period_ends, to_frequency

# Thu 2024-02-01 .. Tue 2024-02-13 without the weekend days and without Fri 2024-02-09.
DATES = [dt.date(2024, 2, d) for d in (1, 2, 5, 6, 7, 8, 12, 13)] + [dt.date(2024, 1, 31)]


def test_weekly_period_ends_on_the_last_session_of_the_week():
    calendar = period_ends(pl.Series(DATES), "weekly").sort("date")
    ends = dict(zip(calendar["date"], calendar["period_end"], strict=True))
    assert ends[dt.date(2024, 1, 31)] == dt.date(2024, 2, 2)  # Friday
    assert ends[dt.date(2024, 2, 5)] == dt.date(2024, 2, 8)  # Thursday: no Friday session
    assert ends[dt.date(2024, 2, 13)] == dt.date(2024, 2, 13)  # the last, unfinished week
    nxt = dict(zip(calendar["period_end"], calendar["next_period_end"], strict=True))
    assert nxt[dt.date(2024, 2, 2)] == dt.date(2024, 2, 8)
    assert nxt[dt.date(2024, 2, 13)] is None


def test_monthly_period_ends_on_the_month_end_session():
    calendar = period_ends(pl.Series(DATES), "monthly")
    assert sorted(set(calendar["period_end"])) == [dt.date(2024, 1, 31), dt.date(2024, 2, 13)]


def test_weekly_return_compounds_the_week_and_ret_fwd_is_next_week():
    dates = sorted(DATES)
    close = [100.0, 101.0, 102.0, 99.0, 100.0, 105.0, 104.0, 106.0, 107.0]
    daily = pl.DataFrame({"ticker": "X", "date": dates, "adj_close": close}).with_columns(
        (pl.col("adj_close") / pl.col("adj_close").shift(1) - 1).alias("ret")
    )
    weekly = to_frequency(daily, "weekly", carry=[])
    assert weekly["date"].to_list() == [
        dt.date(2024, 2, 2),
        dt.date(2024, 2, 8),
        dt.date(2024, 2, 13),
    ]
    assert weekly["ret"][0] is None  # the listing week has no previous close
    assert weekly["ret"][1] == pytest.approx(104.0 / 102.0 - 1)  # Friday 2 Feb to Thursday 8 Feb
    assert weekly["ret_fwd"][1] == pytest.approx(107.0 / 104.0 - 1)
    assert weekly["ret_fwd"][2] is None


def test_unknown_frequency_is_refused():
    with pytest.raises(ConfigError, match="use one of daily, weekly, monthly"):
        period_ends(pl.Series(DATES), "yearly")
