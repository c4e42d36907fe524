"""What a researcher should know before trusting a run's numbers, as one line each.

`run_warnings(home, run_id)` reads the run's published tables; `find_warnings` does the same on
frames, so the summary artifact, the terminal and the report (and a test) share one rule set:

- a negative pooled predictive R2: the model predicts worse than zero returns;
- a window whose test R2 exceeds its training R2: the test block is easier than the training one
  (or the fit is poor), so the window's test R2 flatters the model;
- a last test block much smaller than the others: the plan cut it at the panel's last date, so
  its R2 rests on few observations;
- characteristics left out of a window's fit (`cae.models._chars`, table `inputs`);
- no new data since an earlier run: the same data version, so the same numbers.
"""

from __future__ import annotations

import polars as pl

from cae.home import HomeLike
from cae.runs import outputs
from cae.runs.r2_format import format_r2

__all__ = ["PARTIAL_BLOCK_SHARE", "find_warnings", "run_warnings"]

# A last test block with fewer observations than this share of the typical (median) block is
# partial: on the daily sample the plan's last block holds 1,986 observations against ~9,900.
PARTIAL_BLOCK_SHARE = 0.5

# The rule of `cae.models._chars` (not imported: it would load torch into every report).
_LEFT_OUT_REASON = (
    "constant across tickers on most training dates, as when absent early in the panel, "
    "or collinear with the kept ones"
)


def run_warnings(home: HomeLike, run_id: str) -> list[str]:
    """Return the warnings of a published run (`find_warnings` on its tables)."""
    return find_warnings(
        run_id,
        metrics=outputs.read_table(home, "metrics", run_id),
        inputs=outputs.read_table(home, "inputs", run_id),
        runs=outputs.read_table(home, "runs"),
    )


def find_warnings(
    run_id: str, metrics: pl.DataFrame, inputs: pl.DataFrame, runs: pl.DataFrame
) -> list[str]:
    """Return one line per warning for `run_id`, from its `metrics` and `inputs` and all `runs`."""
    return [
        *negative_predictive_r2(metrics),
        *above_training_r2(metrics),
        *partial_last_block(metrics),
        *chars_left_out(inputs),
        *no_new_data(run_id, runs),
    ]


def negative_predictive_r2(metrics: pl.DataFrame) -> list[str]:
    """Warn about models whose pooled predictive R2 (window_id null) is negative."""
    pooled = metrics.filter(pl.col("window_id").is_null() & (pl.col("r2_pred") < 0))
    if pooled.is_empty():
        return []
    names = ", ".join(
        f"{m} {format_r2(r2)}%" for m, r2 in pooled.select("model", "r2_pred").iter_rows()
    )
    return [f"pooled predictive R2 is negative (worse than predicting zero) for: {names}"]


def above_training_r2(metrics: pl.DataFrame) -> list[str]:
    """Warn about the models whose test total R2 exceeds their training total R2, per window.

    Windows that name the same models share a line; "every model" when no model escapes.
    """
    by_split = metrics.filter(
        pl.col("window_id").is_not_null() & pl.col("split").is_in(["train", "test"])
    ).pivot(on="split", index=["window_id", "model"], values="r2_total")
    if not {"train", "test"} <= set(by_split.columns):
        return []
    per_window = (
        by_split.group_by("window_id", maintain_order=True)
        .agg(
            pl.col("model").filter(pl.col("test") > pl.col("train")).str.join(", ").alias("above"),
            ((pl.col("test") > pl.col("train")).all()).alias("every"),
        )
        .filter(pl.col("above") != "")
        .with_columns(
            pl.when("every").then(pl.lit("every model")).otherwise("above").alias("above")
        )
        .sort("window_id")
    )
    return [
        f"{_windows(ids)}: test R2 above training R2 for {models}"
        for models, ids in per_window.group_by("above", maintain_order=True)
        .agg("window_id")
        .iter_rows()
    ]


def partial_last_block(metrics: pl.DataFrame) -> list[str]:
    """Warn when the last window's test block has far fewer observations than the typical one."""
    blocks = (
        metrics.filter(pl.col("window_id").is_not_null() & (pl.col("split") == "test"))
        .group_by("window_id")
        .agg(pl.col("n_obs").max())
        .sort("window_id")
    )
    if blocks.height < 2:
        return []
    last_id, last_obs = blocks.row(-1)
    typical = blocks["n_obs"].head(-1).median()
    if last_obs >= PARTIAL_BLOCK_SHARE * typical:
        return []
    return [
        f"window {last_id}: partial last test block, {last_obs:,} observations "
        f"vs {typical:,.0f} in a typical block"
    ]


def chars_left_out(inputs: pl.DataFrame) -> list[str]:
    """Warn which characteristics the models that choose them left out, and why, by window."""
    per_model = (
        inputs.group_by("window_id", "model", maintain_order=True)
        .agg(
            pl.col("characteristic").filter(~pl.col("is_used")).str.join(", ").alias("left_out"),
            (~pl.col("is_used")).sum().alias("n_left_out"),
            pl.len().alias("n_chars"),
            pl.col("n_fit_dates_left_out").max().alias("n_dates"),
        )
        .filter(pl.col("n_left_out") > 0)
    )
    # Models of a window share its training panel, so they usually leave out the same set,
    # and the same set window after window: one line per set and models.
    keys = ["left_out", "n_left_out", "n_chars", "n_dates"]
    grouped = (
        per_model.sort("window_id", maintain_order=True)
        .group_by(["window_id", *keys], maintain_order=True)
        .agg(pl.col("model").str.join(", ").alias("models"))
        .group_by(["models", *keys], maintain_order=True)
        .agg("window_id")
    )
    lines = []
    for models, left_out, n_left_out, n_chars, n_dates, ids in grouped.iter_rows():
        dates = f"; {_count(n_dates, 'training date')} left out of each fit" if n_dates else ""
        lines.append(
            f"{_windows(ids)}: {models} use {n_chars - n_left_out} of {n_chars} "
            f"characteristics; left out {left_out} ({_LEFT_OUT_REASON}){dates}"
        )
    return lines


def no_new_data(run_id: str, runs: pl.DataFrame) -> list[str]:
    """Warn when the latest succeeded run before `run_id` saw the same data version."""
    this = runs.filter(pl.col("run_id") == run_id)
    if this.is_empty():
        return []
    created_at, version = this.select("created_at", "data_version").row(0)
    earlier = runs.filter(
        (pl.col("status") == "succeeded") & (pl.col("created_at") < created_at)
    ).sort("created_at")
    if earlier.is_empty() or earlier["data_version"][-1] != version:
        return []
    return [f"no new data since run {earlier['run_id'][-1]} (data version {version})"]


def _windows(ids: list[int]) -> str:
    """Return `window 3`, `windows 0-3` (consecutive) or `windows 0, 2, 5`."""
    if len(ids) == 1:
        return f"window {ids[0]}"
    if ids == list(range(ids[0], ids[-1] + 1)):
        return f"windows {ids[0]}-{ids[-1]}"
    return "windows " + ", ".join(map(str, ids))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
