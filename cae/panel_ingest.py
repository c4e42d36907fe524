"""Bring your own panel: load a user's characteristics file as `characteristics_<freq>`."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import polars as pl

from cae import features, panel_sources
from cae import panel_store as store
from cae.errors import DataError, FileFormatError
from cae.frequency import check_freq
from cae.schemas import PANEL_KEY_COLUMNS
from cae.warehouse import transaction

__all__ = ["ingest_panel"]


def _read_user_file(path: Path) -> pl.DataFrame:
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            return pl.read_parquet(path)
        return pl.read_csv(path, infer_schema_length=10_000)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise FileFormatError(f"{path}: cannot read the panel: {error}") from error


def _user_dates(column: pl.Series, path: Path) -> pl.Series:
    if column.dtype == pl.Date:
        dates = column
    else:
        text = column.cast(pl.Utf8).str.strip_chars()
        # ISO dates, or the GKX / Open Source Asset Pricing integer form 19570131.
        iso = text.str.to_date("%Y-%m-%d", strict=False)
        dates = iso.fill_null(text.str.to_date("%Y%m%d", strict=False))
    bad = dates.is_null()
    if bad.any():
        line = int(bad.arg_true()[0]) + 2
        raise DataError(
            f"{path}: line {line}: date {column[line - 2]!r} is not YYYY-MM-DD or YYYYMMDD"
        )
    return dates.alias("date")


def ingest_panel(
    con: duckdb.DuckDBPyConnection, file: str | os.PathLike[str], freq: str = "monthly"
) -> tuple[int, int]:
    """Load a user's own characteristics panel (CSV or Parquet) as `characteristics_<freq>`.

    Required columns: date, ticker, ret; optional ret_fwd (else the ticker's ret at the file's
    next date); every other column is a characteristic and must be numeric. Validated like a
    computed panel; it replaces any panel at `freq` and is then read exactly like one.
    Returns (rows, dates) loaded.
    """
    check_freq(freq)
    path = Path(file)
    raw = _read_user_file(path)
    missing = [c for c in ("date", "ticker", "ret") if c not in raw.columns]
    if missing:
        raise FileFormatError(f"{path}: missing required column(s) {', '.join(missing)}")
    names = [c for c in raw.columns if c not in PANEL_KEY_COLUMNS]
    numeric = {}
    for name in ["ret", *(["ret_fwd"] if "ret_fwd" in raw.columns else []), *names]:
        values = raw[name].cast(pl.Float64, strict=False)
        bad = values.is_null() & raw[name].is_not_null()
        if bad.any():
            line = int(bad.arg_true()[0]) + 2
            raise DataError(f"{path}: line {line}: column {name} is not a number")
        numeric[name] = values.fill_nan(None)
    panel = pl.DataFrame(
        {"date": _user_dates(raw["date"], path), "ticker": raw["ticker"].cast(pl.Utf8), **numeric}
    )
    if "ret_fwd" not in panel.columns:
        calendar = panel.select(pl.col("date").unique().sort())
        calendar = calendar.with_columns(pl.col("date").shift(-1).alias("next_date"))
        forward = panel.select(
            "ticker", pl.col("date").alias("next_date"), pl.col("ret").alias("ret_fwd")
        )
        panel = panel.join(calendar, on="date").join(
            forward, on=["ticker", "next_date"], how="left"
        )
    features.check_returns(panel, source=str(path))
    stored = panel.select(*PANEL_KEY_COLUMNS, pl.lit(True).alias("is_in_universe"), *names).sort(
        "date", "ticker"
    )
    store.validate_panel(stored, source=str(path))
    with transaction(con):
        store.execute(con, "characteristics_drop", freq)
        con.from_arrow(stored.to_arrow()).create(f"characteristics_{freq}")
        store.write_meta(con, freq, f"file:{path}", names, None)
        panel_sources.clear_sources(con, freq, None)  # the computed panel's counts are gone
    return stored.height, stored["date"].n_unique()
