"""Which input a characteristic with a choice used: shares outstanding or a volume proxy.

`turn`, `std_turn` and `mvel1` use shares outstanding per ticker and date when the warehouse
has them, else a volume proxy (`cae.panel.features.liquidity`). A build counts, per date and
characteristic, the panel rows with a value from each source into `characteristic_sources`;
`panel_meta` keeps one label per characteristic for the whole panel (`cae sql` shows both).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import duckdb
import polars as pl

from cae.panel import features
from cae.warehouse import query_frame, run_sql

__all__ = [
    "clear_sources",
    "count_sources",
    "flag_columns",
    "flag_names",
    "keep_previous_sources",
    "source_label",
    "summarise_sources",
    "swap_previous_sources",
    "write_sources",
]

_FLAG_PREFIX = "uses_shares__"


def _chosen(names: Sequence[str]) -> list[str]:
    return [name for name in names if name in features.PROXY_SOURCES]


def flag_names(names: Sequence[str]) -> list[str]:
    """Return the flag columns `flag_columns` adds for the chosen characteristics."""
    return [f"{_FLAG_PREFIX}{name}" for name in _chosen(names)]


def flag_columns(names: Sequence[str]) -> list[pl.Expr]:
    """Return one boolean column per chosen characteristic with a choice: shares used at d."""
    return [features.uses_shares(name).alias(f"{_FLAG_PREFIX}{name}") for name in _chosen(names)]


def count_sources(periods: pl.DataFrame, freq: str, names: Sequence[str]) -> pl.DataFrame:
    """Count, per date and characteristic, the rows whose value came from shares or the proxy.

    `periods` holds the panel rows with the characteristics and their flag columns; a null
    value counts for neither source.
    """
    counts = [
        periods.group_by("date").agg(
            pl.lit(name).alias("name"),
            (pl.col(name).is_not_null() & pl.col(flag)).sum().cast(pl.Int64).alias("n_shares"),
            (pl.col(name).is_not_null() & ~pl.col(flag)).sum().cast(pl.Int64).alias("n_proxy"),
        )
        for name, flag in zip(_chosen(names), flag_names(names), strict=True)
    ]
    if not counts:
        return pl.DataFrame(
            schema={
                "freq": pl.Utf8,
                "date": pl.Date,
                "name": pl.Utf8,
                "n_shares": pl.Int64,
                "n_proxy": pl.Int64,
            }
        )
    return pl.concat(counts).select(
        pl.lit(freq).alias("freq"), "date", "name", "n_shares", "n_proxy"
    )


def clear_sources(con: duckdb.DuckDBPyConnection, freq: str, from_date: dt.date | None) -> None:
    """Delete the counts of `freq` from `from_date` on (all of them when it is None)."""
    run_sql(con, "characteristic_sources#delete_from", {"freq": freq, "from_date": from_date})


def keep_previous_sources(con: duckdb.DuckDBPyConnection, freq: str) -> None:
    """Keep the counts of `freq` with the panel an ingest replaces (see `cae.panel.ingest`)."""
    run_sql(con, "characteristic_sources#previous_delete", {"freq": freq})
    run_sql(con, "characteristic_sources#keep_previous", {"freq": freq})


def swap_previous_sources(con: duckdb.DuckDBPyConnection, freq: str) -> None:
    """Swap the counts of `freq` with the kept ones, as a restore swaps the panels."""
    previous = query_frame(con, "characteristic_sources#previous_read", {"freq": freq})
    keep_previous_sources(con, freq)
    clear_sources(con, freq, None)
    if previous.height:
        con.from_arrow(previous.to_arrow()).insert_into("characteristic_sources")


def write_sources(
    con: duckdb.DuckDBPyConnection, freq: str, from_date: dt.date | None, counts: pl.DataFrame
) -> None:
    """Replace the counts of `freq` from `from_date` on with `counts` (chunks summed)."""
    clear_sources(con, freq, from_date)
    total = (
        counts.group_by("freq", "date", "name")
        .agg(pl.col("n_shares", "n_proxy").sum())
        .select("freq", "date", "name", "n_shares", "n_proxy")
        .sort("date", "name")
    )
    if total.height:
        con.from_arrow(total.to_arrow()).insert_into("characteristic_sources")


def source_label(n_shares: int, n_proxy: int, proxy: str) -> str:
    """Return a panel's label: `shares_out`, the proxy's name, or `mixed (...)` with counts."""
    if n_shares == 0:
        return proxy
    if n_proxy == 0:
        return features.SHARES_SOURCE
    return f"mixed ({features.SHARES_SOURCE}: {n_shares} rows; {proxy}: {n_proxy} rows)"


def summarise_sources(con: duckdb.DuckDBPyConnection, freq: str) -> Mapping[str, str]:
    """Return the label of each characteristic with a choice over the whole stored panel."""
    totals = {
        row["name"]: (row["n_shares"], row["n_proxy"])
        for row in query_frame(con, "characteristic_sources#summary", {"freq": freq}).iter_rows(
            named=True
        )
    }
    return {
        name: source_label(*totals.get(name, (0, 0)), proxy)
        for name, proxy in features.PROXY_SOURCES.items()
    }
