"""Industry momentum (Moskowitz & Grinblatt 1999): the sector's equal-weighted momentum."""

from __future__ import annotations

import polars as pl

from cae.panel.features.registry import characteristic
from cae.panel.features.windows import HALF_YEAR

__all__: list[str] = []


@characteristic("indmom", window=HALF_YEAR, stage=1, inputs=("mom6m", "sector"))
def indmom() -> pl.Expr:
    """Equal-weighted mean of mom6m over the tickers of the same sector on the same date."""
    return pl.when(pl.col("sector").is_not_null()).then(
        pl.col("mom6m").mean().over("date", "sector")
    )
