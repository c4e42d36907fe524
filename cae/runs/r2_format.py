"""One way to show R2 in the terminal, the Prefect artifacts and the report: %, two decimals.

R2 shown as a fraction with four decimals, or as a percent that drops trailing zeros (`55.1`
beside `55.48`), reads differently in each place. Models are listed as GKX list them: the
autoencoders first, then IPCA, PCA, the observable factors and the cross-sectional regression.
Import-light (Polars only), so the CLI can use it without importing torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import polars as pl

__all__ = [
    "BASELINE_ORDER",
    "R2_DECIMALS",
    "family_rank",
    "format_r2",
    "labelled_models",
    "pooled_r2_table",
    "pooled_title",
    "r2_grid",
    "r2_text",
    "sort_models",
    "text_table",
]

R2_DECIMALS = 2  # in percent: 0.01% of variance is below what one sample's R2 can tell apart
# The baselines after the autoencoders, as GKX (2021) Table 1 orders them; every name of
# `cae.models.BASELINES` (tests check the two agree; the registry imports torch, this must not).
BASELINE_ORDER = ("ipca", "pca", "observable", "cross_sectional")
CA_PREFIX = "ca"  # autoencoder variants: CA0..CA3, CA-seed, CA0-reg.. (`autoencoder.PRESETS`)
MISSING = "n/a"  # an R2 that could not be computed (no observations, zero variance)


def format_r2(value: float | None) -> str:
    """Return an R2 fraction as a percent with two decimals (0.5548 -> "55.48"); "n/a" if absent."""
    if value is None or math.isnan(value):
        return MISSING
    return f"{100 * value:.{R2_DECIMALS}f}"


def _model_key(name: str) -> tuple[int, bool, str]:
    # Within the autoencoders: GKX's variants before the regression-factor ones, then by name.
    if name.lower().startswith(CA_PREFIX) and name.lower() not in BASELINE_ORDER:
        return (0, name.endswith("-reg"), name)
    if name in BASELINE_ORDER:
        return (1 + BASELINE_ORDER.index(name), False, name)
    return (1 + len(BASELINE_ORDER), False, name)  # a model this list does not know: last


def sort_models(names: Iterable[str]) -> list[str]:
    """Return names without repeats in family order: CA variants, IPCA, PCA, observable, CS."""
    return sorted(set(names), key=_model_key)


def family_rank(models: pl.Series) -> pl.Expr:
    """Return an expression ranking the `model` column in family order, to sort frames by."""
    rank = {name: i for i, name in enumerate(sort_models(models))}
    return pl.col("model").replace_strict(rank, return_dtype=pl.Int64)


def r2_text(values: pl.Expr) -> pl.Expr:
    """Return a Polars expression formatting R2 fractions like `format_r2`, vectorised."""
    return values.map_batches(_format_series, return_dtype=pl.Utf8)


def _format_series(values: pl.Series) -> pl.Series:
    numbers = values.cast(pl.Float64).to_numpy()  # nulls become NaN
    text = np.char.mod(f"%.{R2_DECIMALS}f", 100 * numbers)
    return pl.Series(values.name, np.where(np.isnan(numbers), MISSING, text), pl.Utf8)


def pooled_r2_table(pooled: pl.DataFrame) -> pl.DataFrame:
    """Return pooled R2 rows (`model, n_factors, r2_total, r2_pred, n_obs`) ready to print.

    Columns `model, K, R2 total %, R2 predictive %, observations`, all text, in family order,
    so every place that shows the table shows the same strings.
    """
    return pooled.sort(family_rank(pooled["model"]), "n_factors").select(
        "model",
        pl.col("n_factors").cast(pl.Utf8).alias("K"),
        r2_text(pl.col("r2_total")).alias("R2 total %"),
        r2_text(pl.col("r2_pred")).alias("R2 predictive %"),
        pl.col("n_obs").map_batches(_thousands, return_dtype=pl.Utf8).alias("observations"),
    )


def _thousands(counts: pl.Series) -> pl.Series:
    return pl.Series(counts.name, [f"{n:,}" for n in counts.to_list()], pl.Utf8)


def labelled_models(rows: pl.DataFrame) -> pl.DataFrame:
    """Return metric rows in family order with a `label`: the model, plus `K=n` if several."""
    several_k = rows.group_by("model").agg((pl.col("n_factors").n_unique() > 1).alias("several_k"))
    return (
        rows.join(several_k, on="model")
        .sort(family_rank(rows["model"]), "n_factors")
        .with_columns(
            label=pl.when("several_k")
            .then(pl.format("{} K={}", "model", "n_factors"))
            .otherwise("model")
        )
        .drop("several_k")
    )


def r2_grid(
    metrics: pl.DataFrame, windows: pl.DataFrame, column: str = "r2_total", split: str = "test"
) -> pl.DataFrame:
    """Return one row per window and one text column per model: `column` of `split`, in %.

    `metrics` and `windows` are the output tables of one run. Rows are labelled by the window's
    test block (`window`, `test_start`, `test_end`) and end with the pooled row (`window` "all")
    when the run stored one. Model columns come in family order; a model with several factor
    counts gets one column per count (`pca K=3`).
    """
    rows = labelled_models(metrics.filter(pl.col("split") == split)).with_columns(
        window=pl.col("window_id").cast(pl.Utf8).fill_null("all")
    )
    grid = rows.pivot(on="label", index="window", values=column, aggregate_function="first")
    labels = rows["label"].unique(maintain_order=True).to_list()
    blocks = windows.sort("window_id").select(
        pl.col("window_id").cast(pl.Utf8).alias("window"),
        pl.col("test_start").cast(pl.Utf8),
        pl.col("test_end").cast(pl.Utf8),
    )
    pooled_last = pl.col("window") == "all"
    return (
        blocks.join(grid, on="window", how="full", coalesce=True)
        .sort(pooled_last, pl.col("window").cast(pl.Int64, strict=False))
        .select("window", "test_start", "test_end", *(r2_text(pl.col(c)).alias(c) for c in labels))
    )


def pooled_title(run_id: str) -> str:
    """Return the title of a run's pooled R2 table, short enough for one terminal line."""
    return f"Out-of-sample R2 (%), pooled over test blocks, run {run_id}"


def text_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Return a plain-text table for logs: the first column left-aligned, the others right."""
    lines = [tuple(header), *(tuple(r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    )
