"""pandera models for every table that crosses a boundary, one per table, named after it."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

__all__ = ["CharacteristicsPanel", "NormalisedPanel"]


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
