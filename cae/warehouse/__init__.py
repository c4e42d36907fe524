"""The DuckDB warehouse: migrations, price ingest and its sources, corporate actions."""

from cae.warehouse.db import (
    apply_migrations,
    check_intact,
    connect,
    data_version,
    home_error,
    home_errors,
    is_interrupted_query,
    lookback_floor,
    params_used,
    query_frame,
    read_sql,
    run_sql,
    schema_version,
    sql_dir,
    transaction,
)

__all__ = [
    "apply_migrations",
    "check_intact",
    "connect",
    "data_version",
    "home_error",
    "home_errors",
    "is_interrupted_query",
    "lookback_floor",
    "params_used",
    "query_frame",
    "read_sql",
    "run_sql",
    "schema_version",
    "sql_dir",
    "transaction",
]
