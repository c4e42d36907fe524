"""Panel frequencies: daily, weekly (Friday close) and monthly (month-end close).

A period's date is the market's last trading date in it (Friday, or Thursday when Friday is a
holiday; the last session of the month). A ticker's row for a period holds its characteristics
as of its last session in the period and the compounded return over its sessions in it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import polars as pl

from cae.errors import ConfigError

__all__ = [
    "FREQUENCIES",
    "OWN_PREFIX",
    "PANEL_CHOICES",
    "check_freq",
    "check_panel_key",
    "own_panel_key",
    "period_ends",
    "run_panel_key",
    "to_frequency",
]

FREQUENCIES = ("daily", "weekly", "monthly")
# A user's panel (`cae ingest-panel`) is stored under the key own_<freq>, i.e. in the table
# characteristics_own_<freq>, so a panel built from prices at the same frequency
# (characteristics_<freq>) can never overwrite it, nor it the built one.
OWN_PREFIX = "own_"
PANEL_KEYS = (*FREQUENCIES, *(OWN_PREFIX + freq for freq in FREQUENCIES))
# Which panel a run trains on: "auto" is the user's panel at the run's frequency when one was
# loaded, else the one built from prices.
PANEL_CHOICES = ("auto", "own", "prices")
_TRUNCATE = {"weekly": "1w", "monthly": "1mo"}


def check_freq(freq: str) -> str:
    """Return `freq` if it is a known frequency, else raise a `ConfigError`."""
    if freq not in FREQUENCIES:
        raise ConfigError(f"unknown frequency {freq!r}: use one of {', '.join(FREQUENCIES)}")
    return freq


def check_panel_key(key: str) -> str:
    """Return `key` if it names a stored panel (`daily` or `own_monthly`), else raise."""
    if key not in PANEL_KEYS:
        raise ConfigError(f"unknown panel {key!r}: use one of {', '.join(PANEL_KEYS)}")
    return key


def own_panel_key(freq: str) -> str:
    """Return the key of the user's panel at `freq`: its table is characteristics_<key>."""
    return OWN_PREFIX + check_freq(freq)


def run_panel_key(config_json: str) -> str:
    """Return the key of the panel a run trained on, from its `runs.config_json`.

    `RunConfig.panel` is stored resolved ("own" or "prices"); runs from before it had none.
    """
    config = json.loads(config_json)
    freq = config.get("freq", "daily")
    return own_panel_key(freq) if config.get("panel") == "own" else freq


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

    `ret` is the ticker's compounded return from its previous period row to this one, i.e.
    adj_close ratio (null for its first period, as compounding the listing day's null return
    gives); `ret_fwd` is the ticker's `ret` in the market's next period (null if it has no row
    there); the `carry` columns are taken from the ticker's last session in the period.
    Daily rows are already periods: `ret` is the daily return. Rows stay sorted by ticker
    and date (sorting 7M rows again costs seconds; readers order by date, ticker).
    """
    calendar = period_ends(daily["date"], freq)
    tagged = daily.join(calendar, on="date", how="left", maintain_order="left")
    same_ticker_next = pl.col("ticker") == pl.col("ticker").shift(-1)
    if freq != "daily":
        is_last = ~same_ticker_next | (pl.col("period_end") != pl.col("period_end").shift(-1))
        tagged = tagged.filter(is_last.fill_null(True))
        same_ticker_prev = pl.col("ticker") == pl.col("ticker").shift(1)
        growth = pl.col("adj_close") / pl.col("adj_close").shift(1) - 1
        tagged = tagged.with_columns(pl.when(same_ticker_prev).then(growth).alias("ret"))
    # Rows are sorted by ticker and period, so the next row is the ticker's next period row;
    # it is the *market's* next period only if its date is next_period_end.
    is_next_period = same_ticker_next & (
        pl.col("period_end").shift(-1) == pl.col("next_period_end")
    )
    out = tagged.select(
        pl.col("period_end").alias("date"),
        "ticker",
        "ret",
        pl.when(is_next_period).then(pl.col("ret").shift(-1)).alias("ret_fwd"),
        *carry,
    )
    return out
