"""Where panels are stored: the `characteristics_<freq>` tables, `panel_meta`, validation.

The table name is the only identifier cae fills into SQL text, and only from the PANEL_KEYS
whitelist (`{freq}` in the `sql/panel/` files: a frequency for a panel built from prices,
own_<freq> for a user's); values always travel as DuckDB parameters. `panel_meta.freq` holds
the same key.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import pandera.errors
import polars as pl

from cae.errors import ValidationError
from cae.panel import features
from cae.panel.frequency import check_panel_key
from cae.panel.universe import UniverseConfig
from cae.warehouse import params_used, read_sql
from cae.warehouse.schemas import CharacteristicsPanel, NormalisedPanel

__all__ = [
    "FILE_LINE",
    "characteristic_names",
    "execute",
    "query",
    "read_meta",
    "table_exists",
    "universe_json",
    "validate_panel",
    "write_meta",
]

# The column a user's panel carries through conversion and validation: each row's line in its
# file (or row, for Parquet), so every message can name it whatever the sort order.
FILE_LINE = "file_line"


def _freq_sql(name: str, freq: str) -> str:
    # The table name is the only identifier filled in, and only from the PANEL_KEYS whitelist.
    return read_sql(f"panel/{name}").replace("{freq}", check_panel_key(freq))


def execute(con: duckdb.DuckDBPyConnection, name: str, freq: str, params=None) -> None:
    """Run the statement `name` of `sql/panel/` (`characteristics#drop`) on the panel at `freq`."""
    text = _freq_sql(name, freq)
    con.execute(text, params_used(text, params)).fetchall()


def query(con: duckdb.DuckDBPyConnection, name: str, freq: str, params=None) -> pl.DataFrame:
    """Return the result of the query `name` of `sql/panel/` at `freq` as a Polars frame."""
    text = _freq_sql(name, freq)
    return pl.from_arrow(con.sql(text, params=params_used(text, params)).to_arrow_table())


def table_exists(con: duckdb.DuckDBPyConnection, freq: str, *, previous: bool = False) -> bool:
    """Return whether `characteristics_<freq>` (or the `_previous` one) exists."""
    name = f"characteristics_{freq}" + ("_previous" if previous else "")
    frame = query(con, "characteristics#table_exists", freq, {"name": name})
    return bool(frame["n"][0])


def read_meta(con: duckdb.DuckDBPyConnection, freq: str) -> dict[str, Any] | None:
    """Return the `panel_meta` row of `freq`, or None if no panel was stored."""
    rows = query(con, "panel_meta#read", freq, {"freq": freq})
    return rows.row(0, named=True) if rows.height else None


def characteristic_names(con: duckdb.DuckDBPyConnection, freq: str = "weekly") -> list[str]:
    """Return the characteristic columns of the stored panel at `freq`, in column order."""
    meta = read_meta(con, freq)
    return list(json.loads(meta["char_names"])) if meta else []


def universe_json(universe: UniverseConfig | None) -> str | None:
    """Return the universe filters as canonical JSON (None for a user's panel)."""
    return json.dumps(dataclasses.asdict(universe), sort_keys=True) if universe else None


def write_meta(
    con: duckdb.DuckDBPyConnection,
    freq: str,
    source: str,
    names: Sequence[str],
    universe: UniverseConfig | None,
    sources: Mapping[str, str] | None = None,
) -> None:
    """Replace the `panel_meta` row of `freq` after a build or an ingest.

    `sources` labels the input of turn, std_turn and mvel1 (`cae.panel.proxy_sources`); a computed
    panel without it is labelled with the volume proxies, a user's panel (no `universe`) with
    nothing.
    """
    if sources is None:
        sources = features.PROXY_SOURCES if universe is not None else {}
    params = {
        "universe_config": universe_json(universe),
        "freq": freq,
        "source": source,
        "char_names": json.dumps(list(names)),
        "turn_source": sources.get("turn"),
        "std_turn_source": sources.get("std_turn"),
        "mvel1_source": sources.get("mvel1"),
    }
    execute(con, "panel_meta#upsert", freq, params)


def _where(frame: pl.DataFrame, index: int | None) -> str:
    if index is None or FILE_LINE not in frame.columns:
        return f"row {index}"
    return f"line {frame[FILE_LINE][index]}"


def validate_panel(frame: pl.DataFrame, *, source: str, normalised: bool = False) -> pl.DataFrame:
    """Check a panel at the boundary; raise a `ValidationError` naming the rows and rules.

    A row is named by its FILE_LINE when the frame has that column (a user's file), else by
    its 0-based position in `frame`.
    """
    model = NormalisedPanel if normalised else CharacteristicsPanel
    try:
        return model.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        cases = errors.failure_cases.head(5)
        details = "; ".join(
            f"{_where(frame, row['index'])} {row['column']}: {row['check']} "
            f"(got {row['failure_case']})"
            for row in cases.iter_rows(named=True)
        )
        n_failures = errors.failure_cases.height
        raise ValidationError(f"{source}: {n_failures} failure(s): {details}") from None
