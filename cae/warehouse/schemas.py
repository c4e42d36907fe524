"""pandera models for every table that crosses a boundary, one per table, named after it.

`Prices` is the contract between a source and the `prices` table. Each check's `name` is the rule
a rejected row is stored under in `rejected_rows.reason`, so a user can grep for it.
"""

from __future__ import annotations

import datetime as dt

import pandera.polars as pa
import polars as pl

__all__ = [
    "FUTURE_DATE_SLACK_DAYS",
    "MAX_PRICE",
    "MAX_TICKER_CHARS",
    "MAX_VOLUME",
    "MIN_DATE",
    "OPEN_RANGE_TOLERANCE",
    "PANEL_KEY_COLUMNS",
    "PANEL_MAX_ABS_RETURN",
    "PRICE_COLUMNS",
    "PRICE_RANGE_TOLERANCE",
    "RULE_MESSAGES",
    "CharacteristicsPanel",
    "NormalisedPanel",
    "Prices",
]

# 1e7 = $10 million a share; the dearest US share ever quoted is below $1 million, so a larger
# number is a unit or parsing error (e.g. 1e300), not a price.
MAX_PRICE = 1e7
# 1e12 shares in one day is three orders of magnitude above any stock's float.
MAX_VOLUME = 1e12
# A session east of UTC can end on a calendar day UTC has not reached yet.
FUTURE_DATE_SLACK_DAYS = 1
# Nothing before 1900 exists in daily equity data we can use; an earlier date is a parsing error.
MIN_DATE = dt.date(1900, 1, 1)
# Relative slack for high >= close >= low: float rounding in a source, not a market fact.
PRICE_RANGE_TOLERANCE = 1e-6
# Relative slack for high >= open >= low. Official opening-auction prints can lie outside the
# consolidated high-low range; the bundled sample has 77 such rows, the widest 4.1% outside.
OPEN_RANGE_TOLERANCE = 0.05

# 32 characters: above any exchange symbol or vendor code (`BRK/B US Equity` is 15); a longer
# cell is a misread file (a whole line or a text blob in the ticker column), not a ticker.
MAX_TICKER_CHARS = 32
# Unicode control characters (C0, DEL, C1): never part of a symbol, they break terminals and
# CSV output. Spaces inside a ticker are allowed; leading and trailing ones are trimmed.
_CONTROL_CHARACTERS = r"\p{Cc}"

PRICE_COLUMNS = ("open", "high", "low", "close")

# Check name -> message; `{column}` and `{value}` are filled from pandera's failure case.
RULE_MESSAGES = {
    "not_nullable": "{column} is missing",
    "finite": "{column} must be finite (got {value})",
    "price_positive": "{column} must be > 0 (got {value})",
    "price_below_max": f"{{column}} must be <= MAX_PRICE={MAX_PRICE:g} (got {{value}})",
    "volume_nonnegative": "volume must be >= 0 (got {value})",
    "volume_below_max": f"volume must be <= MAX_VOLUME={MAX_VOLUME:g} (got {{value}})",
    "ticker_nonempty": "ticker is empty",
    "ticker_length": f"ticker must be at most MAX_TICKER_CHARS={MAX_TICKER_CHARS} characters",
    "ticker_characters": "ticker must not hold control characters",
    "date_not_future": "date {value} is in the future",
    "date_after_min": f"date {{value}} is before MIN_DATE={MIN_DATE}",
    "close_in_range": (
        f"close must lie within [low, high] (tolerance PRICE_RANGE_TOLERANCE="
        f"{PRICE_RANGE_TOLERANCE:g}; got {{value}})"
    ),
    "open_in_range": (
        f"open must lie within [low, high] (tolerance OPEN_RANGE_TOLERANCE="
        f"{OPEN_RANGE_TOLERANCE:g}; got {{value}})"
    ),
    "duplicate_key": "(ticker, date) appears more than once in this batch",
}


def _within_range(column: str, tolerance: float) -> pl.Expr:
    value = pl.col(column)
    above_low = pl.col("low").is_null() | (value >= pl.col("low") * (1 - tolerance))
    below_high = pl.col("high").is_null() | (value <= pl.col("high") * (1 + tolerance))
    return value.is_null() | (above_low & below_high)


class Prices(pa.DataFrameModel):
    """Daily price rows as they enter the `prices` table: one row per ticker and date.

    Prices are raw (not split-adjusted) in the source's currency; `volume` is in shares;
    `adj_factor` multiplies `close` into an adjusted close (1.0 when the source gives none).
    """

    ticker: str = pa.Field(nullable=False)
    date: dt.date = pa.Field(nullable=False)
    open: float = pa.Field(nullable=True)
    high: float = pa.Field(nullable=True)
    low: float = pa.Field(nullable=True)
    close: float = pa.Field(nullable=False)
    volume: float = pa.Field(nullable=True)
    adj_factor: float = pa.Field(nullable=False)
    shares_out: float = pa.Field(nullable=True)

    @pa.check("ticker", name="ticker_nonempty")
    def _ticker_nonempty(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key).str.len_chars() > 0)

    @pa.check("ticker", name="ticker_length")
    def _ticker_length(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key).str.len_chars() <= MAX_TICKER_CHARS)

    @pa.check("ticker", name="ticker_characters")
    def _ticker_characters(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(~pl.col(data.key).str.contains(_CONTROL_CHARACTERS))

    @pa.check("open", "high", "low", "close", "volume", "adj_factor", "shares_out", name="finite")
    def _finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key).is_finite())

    @pa.check("open", "high", "low", "close", "adj_factor", name="price_positive")
    def _price_positive(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key) > 0)

    @pa.check("open", "high", "low", "close", name="price_below_max")
    def _price_below_max(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key).abs() <= MAX_PRICE)

    @pa.check("volume", "shares_out", name="volume_nonnegative")
    def _volume_nonnegative(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key) >= 0)

    @pa.check("volume", "shares_out", name="volume_below_max")
    def _volume_below_max(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key).abs() <= MAX_VOLUME)

    @pa.check("date", name="date_not_future")
    def _date_not_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        latest = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=FUTURE_DATE_SLACK_DAYS)
        return data.lazyframe.select(pl.col(data.key) <= latest)

    @pa.check("date", name="date_after_min")
    def _date_after_min(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key) >= MIN_DATE)

    @pa.dataframe_check(name="close_in_range")
    def _close_in_range(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_within_range("close", PRICE_RANGE_TOLERANCE))

    @pa.dataframe_check(name="open_in_range")
    def _open_in_range(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_within_range("open", OPEN_RANGE_TOLERANCE))

    @pa.dataframe_check(name="duplicate_key")
    def _duplicate_key(cls, data: pa.PolarsData) -> pl.LazyFrame:
        key = pl.struct("ticker", "date")
        ticker, date = pl.col("ticker"), pl.col("date")
        increasing = (ticker > ticker.shift()) | (
            (ticker == ticker.shift()) & (date > date.shift())
        )
        # Files usually arrive sorted by ticker and date; a strictly increasing key cannot
        # repeat, which is checked far faster than hashing every key.
        is_sorted = data.lazyframe.select(increasing.slice(1).fill_null(False).all()).collect()
        if is_sorted.item():
            return data.lazyframe.select(pl.repeat(True, pl.len()))
        return data.lazyframe.select(~key.is_duplicated())

    class Config:
        """Extra columns (such as `row_number`) pass through; types are coerced before."""

        strict = False
        coerce = False


# --- issue 3 (features): the characteristics panel -------------------------------------------
# Columns that are not characteristics; every other Float64 column of a panel is one.
PANEL_KEY_COLUMNS = ("date", "ticker", "ret", "ret_fwd")
PANEL_MAX_ABS_RETURN = 10.0  # 10.0 = 1000% in one period; beyond that it is a data error


class CharacteristicsPanel(pa.DataFrameModel):
    """A panel as stored: one row per date and ticker, raw characteristics (null = missing)."""

    date: pl.Date = pa.Field(nullable=False)
    ticker: pl.Utf8 = pa.Field(nullable=False, str_length={"min_value": 1})
    ret: pl.Float64 = pa.Field(
        nullable=True,
        in_range={"min_value": -PANEL_MAX_ABS_RETURN, "max_value": PANEL_MAX_ABS_RETURN},
    )
    ret_fwd: pl.Float64 = pa.Field(
        nullable=True,
        in_range={"min_value": -PANEL_MAX_ABS_RETURN, "max_value": PANEL_MAX_ABS_RETURN},
    )

    class Config:
        """Unique (date, ticker); characteristic columns are not listed, so not strict."""

        unique = ["date", "ticker"]  # noqa: RUF012
        strict = False

    @pa.dataframe_check(name="finite")
    @classmethod
    def finite_values(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Every numeric value is finite or missing (never inf or NaN)."""
        floats = pl.col(pl.Float64)
        return data.lazyframe.select(pl.all_horizontal(floats.is_finite() | floats.is_null()))


class NormalisedPanel(CharacteristicsPanel):
    """A panel as the models read it: every characteristic ranked into [-1, 1], none missing."""

    @pa.dataframe_check(name="normalised_in_unit_interval")
    @classmethod
    def in_unit_interval(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Characteristic values lie in [-1, 1] and are never missing."""
        chars = pl.col(pl.Float64).exclude(*PANEL_KEY_COLUMNS)
        return data.lazyframe.select(
            pl.all_horizontal(chars.is_not_null() & chars.is_between(-1.0, 1.0)).fill_null(True)
        )
