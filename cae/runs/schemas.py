"""Pandera schemas of the output tables (docs/architecture.md, "Tables"), one per table.

`run_id` is not a column here: it lives in the hive partition path (`run_id=<id>/`). Columns are
coerced to these dtypes, so a writer may hand over Int64 ids or Float32 betas. Kept apart from
`schemas.py` (the warehouse-side models) so outputs and ingest can evolve without merge fights.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import polars as pl

from cae.errors import ValidationError

if TYPE_CHECKING:
    import pandera.polars as pa
    from pandera.errors import SchemaError, SchemaErrors

__all__ = ["METRIC_SPLITS", "OPTIONAL_COLUMNS", "TABLES", "polars_schema", "schemas", "validate"]

# The output tables: runs first, then the data tables in docs/architecture.md order.
TABLES = (
    "runs",
    "windows",
    "betas",
    "factors",
    "fitted",
    "metrics",
    "inputs",
    "pricing_errors",
    "long_short",
    "importance",
)

METRIC_SPLITS = ("train", "val", "test")
MAX_REPORTED_FAILURES = 5  # rules shown; enough to see the pattern in a one-line CLI error
MAX_CASE_CHARS = 160  # a whole failing row is shown for table-wide rules; cut it to one line


@functools.cache
def schemas() -> dict[str, pa.DataFrameSchema]:
    """Return the schema of each output table, built on first use.

    Pandera takes 0.35 s to import: every `cae` command would pay it for opening its home.
    """
    import pandera.polars as pa

    def _id(**kwargs: object) -> pa.Column:  # a non-negative integer key
        return pa.Column(pl.Int32, pa.Check.ge(0), coerce=True, **kwargs)

    def _name() -> pa.Column:
        return pa.Column(pl.Utf8, pa.Check.str_length(min_value=1))

    def _float(*, nullable: bool = False) -> pa.Column:
        return pa.Column(pl.Float64, coerce=True, nullable=nullable)

    def _rule(expr: pl.Expr, name: str) -> pa.Check:
        return pa.Check(lambda data: data.lazyframe.select(expr), name=name, error=name)

    date_column = pa.Column(pl.Date)
    optional_date = pa.Column(pl.Date, nullable=True)
    utc = pl.Datetime("us", "UTC")

    built: dict[str, pa.DataFrameSchema] = {
        "runs": pa.DataFrameSchema(
            {
                "created_at": pa.Column(utc, coerce=True),
                "finished_at": pa.Column(utc, coerce=True, nullable=True),
                "config_json": pa.Column(pl.Utf8),
                "code_version": _name(),
                "data_version": _name(),
                "status": pa.Column(pl.Utf8, pa.Check.isin(["running", "succeeded", "failed"])),
                # Why a failed run failed, one line ("interrupted by SIGTERM", "process gone", ...);
                # null otherwise and in runs written before the column existed.
                "failure_reason": pa.Column(pl.Utf8, nullable=True),
            },
            strict=True,
            name="runs",
        ),
        "windows": pa.DataFrameSchema(
            {
                "window_id": _id(unique=True),
                "train_start": date_column,
                "train_end": date_column,
                "val_start": optional_date,
                "val_end": optional_date,
                "test_start": date_column,
                "test_end": date_column,
            },
            strict=True,
            name="windows",
            # Point-in-time rule: each block ends before the next begins, so no window trains or
            # validates on a date it is tested on.
            checks=[
                _rule(pl.col("train_start") <= pl.col("train_end"), "train_start <= train_end"),
                _rule(
                    pl.col("val_start").is_null() == pl.col("val_end").is_null(),
                    "val_start and val_end both set or both null",
                ),
                _rule(
                    pl.col("val_start").is_null()
                    | (
                        (pl.col("train_end") < pl.col("val_start"))
                        & (pl.col("val_start") <= pl.col("val_end"))
                        & (pl.col("val_end") < pl.col("test_start"))
                    ),
                    "train_end < val_start <= val_end < test_start",
                ),
                _rule(pl.col("train_end") < pl.col("test_start"), "train_end < test_start"),
                _rule(pl.col("test_start") <= pl.col("test_end"), "test_start <= test_end"),
            ],
        ),
        "betas": pa.DataFrameSchema(
            {
                "window_id": _id(),
                "model": _name(),
                "date": date_column,
                "ticker": _name(),
                "factor": _name(),  # a name: "f1".. for latent factors, "mkt".. for observable ones
                "beta": _float(),
            },
            strict=True,
            name="betas",
            unique=["window_id", "model", "date", "ticker", "factor"],
        ),
        "factors": pa.DataFrameSchema(
            {
                "window_id": _id(),
                "model": _name(),
                "date": date_column,
                "factor": _name(),
                "value": _float(),
                # lambda: mean of the factors known before `date`; null on a window's first date.
                "lambda": _float(nullable=True),
            },
            strict=True,
            name="factors",
            unique=["window_id", "model", "date", "factor"],
        ),
        "fitted": pa.DataFrameSchema(
            {
                "window_id": _id(),
                "model": _name(),
                "date": date_column,
                "ticker": _name(),
                "ret": _float(),
                "ret_hat_total": _float(nullable=True),
                "ret_hat_pred": _float(nullable=True),
            },
            strict=True,
            name="fitted",
            unique=["window_id", "model", "date", "ticker"],
        ),
        "metrics": pa.DataFrameSchema(
            {
                # Null window_id: pooled over all windows (the paper's out-of-sample R2).
                "window_id": _id(nullable=True),
                "model": _name(),
                "n_factors": pa.Column(pl.Int32, pa.Check.ge(1), coerce=True),
                "split": pa.Column(pl.Utf8, pa.Check.isin(list(METRIC_SPLITS))),
                "r2_total": _float(nullable=True),
                "r2_pred": _float(nullable=True),
                "n_obs": pa.Column(pl.Int64, pa.Check.ge(0), coerce=True),
                # Optional pooling parts (sum of squared errors and of squared returns): pooled R2
                # across windows or runs is 1 - sum(sse) / sum(ssy), never a mean of R2s.
                "sse_total": _float(nullable=True),
                "sse_pred": _float(nullable=True),
                "ssy": _float(nullable=True),
            },
            strict=True,
            name="metrics",
            unique=["window_id", "model", "n_factors", "split"],
        ),
        "inputs": pa.DataFrameSchema(
            {
                # Models that choose their characteristics per window (IPCA, the autoencoders):
                # a characteristic constant across tickers on most training dates is not used, and
                # training dates on which a used one is constant are left out of the fit
                # (`cae.models._chars`).
                "window_id": _id(),
                "model": _name(),
                "characteristic": _name(),
                "is_used": pa.Column(pl.Boolean),
                "n_fit_dates_left_out": pa.Column(pl.Int32, pa.Check.ge(0), coerce=True),
            },
            strict=True,
            name="inputs",
            unique=["window_id", "model", "characteristic"],
        ),
        "pricing_errors": pa.DataFrameSchema(
            {
                # Test assets of GKX 2021 (`cae.evaluation.pricing`): the equal-weighted market
                # ("market") and one characteristic-managed portfolio per characteristic. Null
                # window_id: pooled over all windows' test dates.
                "window_id": _id(nullable=True),
                "model": _name(),
                "asset": _name(),
                "n_dates": pa.Column(pl.Int64, pa.Check.ge(1), coerce=True),
                "mean_ret": _float(),  # mean return of the asset over the test dates
                "alpha": _float(),  # mean pricing error, return minus the total fit
                "t_alpha": _float(nullable=True),  # null with one date or no spread
                "alpha_pred": _float(),  # mean return minus the predictive fit (beta x lambda)
                "t_alpha_pred": _float(nullable=True),
                "r2_total": _float(nullable=True),  # null when the asset's returns are all 0
                "r2_pred": _float(nullable=True),
                # Pooling parts over test dates: sums of squared total and predictive errors and of
                # squared returns.
                "sse_total": _float(),
                "sse_pred": _float(),
                "ssx": _float(),
            },
            strict=True,
            name="pricing_errors",
            unique=["window_id", "model", "asset"],
        ),
        "long_short": pa.DataFrameSchema(
            {
                # Decile long-short portfolio sorted on the predictive fit (`cae.evaluation.
                # long_short`); only dates with at least two observed tickers.
                "window_id": _id(),
                "model": _name(),
                "date": date_column,
                "n_leg": pa.Column(pl.Int32, pa.Check.ge(1), coerce=True),  # tickers per leg
                "ret_ew": _float(),  # equal-weighted top minus bottom decile return
            },
            strict=True,
            name="long_short",
            unique=["window_id", "model", "date"],
        ),
        "importance": pa.DataFrameSchema(
            {
                # Drop in test total R2 with one characteristic set to 0 (`cae.evaluation.
                # importance`). Null window_id: pooled over all windows' test blocks.
                "window_id": _id(nullable=True),
                "model": _name(),
                "characteristic": _name(),
                "r2_drop": _float(nullable=True),  # null when the test returns are all 0
                "importance": _float(nullable=True),  # share of positive drops; null if none
                "sse_zeroed": _float(),
                "sse_total": _float(),
                "ssy": _float(),
            },
            strict=True,
            name="importance",
            unique=["window_id", "model", "characteristic"],
        ),
    }
    if tuple(built) != TABLES:
        raise AssertionError(f"schemas {tuple(built)} do not follow TABLES {TABLES}")
    return built


# Columns a writer may leave out; they are stored as nulls.
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "runs": ("failure_reason",),
    "metrics": ("sse_total", "sse_pred", "ssy"),
}


def polars_schema(table: str) -> dict[str, pl.DataType]:
    """Return the column -> Polars dtype mapping of one output table, without `run_id`."""
    return {name: column.dtype.type for name, column in schemas()[table].columns.items()}


def validate(table: str, frame: pl.DataFrame, *, where: str) -> pl.DataFrame:
    """Check `frame` against the table's schema; return it coerced and in schema column order.

    Every failure is collected (`lazy=True`); the `ValidationError` names `where` (the target
    file and run) and, per broken rule, the first failing row (0-based), its value and how many
    rows break it.
    """
    from pandera.errors import SchemaError, SchemaErrors

    schema = schemas()[table]
    dtypes = polars_schema(table)
    absent = [c for c in OPTIONAL_COLUMNS.get(table, ()) if c not in frame.columns]
    frame = frame.with_columns(pl.lit(None, dtype=dtypes[c]).alias(c) for c in absent)
    missing = [c for c in schema.columns if c not in frame.columns]
    extra = [c for c in frame.columns if c not in schema.columns]
    if missing or extra:
        raise ValidationError(
            f"{table} -> {where}: all rows: missing columns {missing}, unexpected columns {extra}"
        )
    try:
        clean = schema.validate(frame, lazy=True)
    except (SchemaErrors, SchemaError) as error:
        raise ValidationError(f"{table} -> {where}: {_describe(error)}") from error
    return clean.select(list(schema.columns))


def _describe(error: SchemaErrors | SchemaError) -> str:
    from pandera.errors import SchemaError

    if isinstance(error, SchemaError):
        return str(error).splitlines()[0]
    # One entry per broken rule: how many rows break it, and the first one with its value.
    rules = (
        error.failure_cases.with_row_index("order")
        .group_by("schema_context", "column", "check", maintain_order=True)
        .agg(
            pl.len().alias("n_rows"),
            pl.col("index").first(),
            pl.col("failure_case").first(),
        )
    )
    lines = []
    for case in rules.head(MAX_REPORTED_FAILURES).iter_rows(named=True):
        column = f"column {case['column']} " if case["schema_context"] == "Column" else ""
        where = "" if case["index"] is None else f"row {case['index']}: "
        got = str(case["failure_case"])[:MAX_CASE_CHARS]
        lines.append(f"{where}{column}breaks {case['check']} (got {got}; {case['n_rows']} rows)")
    more = rules.height - MAX_REPORTED_FAILURES
    return "; ".join(lines) + (f"; and {more} more rules" if more > 0 else "")
