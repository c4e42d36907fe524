"""Panel frequencies: daily, weekly (Friday close) and monthly (month-end close).

A period's date is the market's last trading date in it (Friday, or Thursday when Friday is a
holiday; the last session of the month). A ticker's row for a period holds its characteristics
as of its last session in the period and the compounded return over its sessions in it.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from cae.errors import ConfigError

__all__ = ["FREQUENCIES", "check_freq", "period_ends", "to_frequency"]

FREQUENCIES = ("daily", "weekly", "monthly")
_TRUNCATE = {"weekly": "1w", "monthly": "1mo"}


def check_freq(freq: str) -> str:
    """Return `freq` if it is a known frequency, else raise a `ConfigError`."""
    if freq not in FREQUENCIES:
        raise ConfigError(f"unknown frequency {freq!r}: use one of {', '.join(FREQUENCIES)}")
    return freq


def period_ends(dates: pl.Series, freq: str) -> pl.DataFrame:
    """Map each trading date to its period's last trading date and the next period's.

    Returns columns `date`, `period_end`, `next_period_end` (null for the last period).
    """
    check_freq(freq)
    calendar = pl.DataFrame({"date": dates.unique().sort()})
    if freq == "daily":
        calendar = calendar.with_columns(pl.col("date").alias("period_end"))
    else:
        period = pl.col("date").dt.truncate(_TRUNCATE[freq])
        calendar = calendar.with_columns(pl.col("date").max().over(period).alias("period_end"))
    ends = calendar.select("period_end").unique().sort("period_end")
    ends = ends.with_columns(pl.col("period_end").shift(-1).alias("next_period_end"))
    return calendar.join(ends, on="period_end", how="left")


def to_frequency(daily: pl.DataFrame, freq: str, carry: Sequence[str]) -> pl.DataFrame:
    """Collapse daily rows (sorted by ticker, date) to one row per period and ticker.

    `ret` compounds the ticker's daily returns in the period (null if any is null, e.g. the
    listing day); `ret_fwd` is the ticker's return in the next period (null if it has none);
    the `carry` columns are taken from the ticker's last session in the period.
    """
    calendar = period_ends(daily["date"], freq)
    tagged = daily.join(calendar, on="date", how="left")
    periods = tagged.group_by("ticker", "period_end", maintain_order=True).agg(
        pl.when(pl.col("ret").null_count() == 0)
        .then((pl.col("ret") + 1).product() - 1)
        .alias("ret"),
        pl.col("next_period_end").last(),
        *[pl.col(name).last() for name in carry],
    )
    forward = periods.select(
        "ticker", pl.col("period_end").alias("next_period_end"), pl.col("ret").alias("ret_fwd")
    )
    out = periods.join(forward, on=["ticker", "next_period_end"], how="left")
    return out.rename({"period_end": "date"}).drop("next_period_end").sort("date", "ticker")
