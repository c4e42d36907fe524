"""Read the result of a `sql/` file straight into a Polars frame.

DuckDB 2.0 copies rows once more when Arrow is taken from an `execute` result, and an
unfinished `execute` result blocks the connection; a relation from `con.sql` avoids both.
This belongs next to `warehouse.run_sql`; it lives here until the branches merge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb
import polars as pl

from cae.warehouse import read_sql

__all__ = ["query_frame"]


def query_frame(
    con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None
) -> pl.DataFrame:
    """Run the query in `sql/<name>.sql` with named parameters and return it as a Polars frame."""
    text = read_sql(name)
    used = {k: v for k, v in (params or {}).items() if f"${k}" in text}
    relation = con.sql(text, params=used or None)
    return pl.from_arrow(relation.to_arrow_table())
