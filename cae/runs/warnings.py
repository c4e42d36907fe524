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
from cae.runs.formatting import pct

__all__ = ["PARTIAL_BLOCK_SHARE", "find_warnings", "run_warnings"]

# A last test block with fewer observations than this share of the typical (median) block is
# partial: on the daily sample the plan's last block holds 1,986 observations against ~9,900.
PARTIAL_BLOCK_SHARE = 0.5

# The rule of `cae.models._chars` (not imported: it would load torch into every report).
_LEFT_OUT_REASON = (
    "constant across tickers on most training dates (absent early in the panel) "
    "or a linear combination of the kept ones"
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
        *test_above_train(metrics),
        *partial_last_block(metrics),
        *chars_left_out(inputs),
        *no_new_data(run_id, runs),
    ]


def negative_predictive_r2(metrics: pl.DataFrame) -> list[str]:
    """Warn about models whose pooled predictive R2 (window_id null) is negative."""
    pooled = metrics.filter(pl.col("window_id").is_null() & (pl.col("r2_pred") < 0))
    if pooled.is_empty():
        return []
    names = ", ".join(f"{m} {pct(r2)}%" for m, r2 in pooled.select("model", "r2_pred").iter_rows())
    return [f"pooled predictive R2 is negative (worse than predicting zero) for: {names}"]


def test_above_train(metrics: pl.DataFrame) -> list[str]:
    """Warn, per window, about the models whose test total R2 exceeds their training total R2."""
    by_split = (
        metrics.filter(pl.col("window_id").is_not_null() & pl.col("split").is_in(["train", "test"]))
        .pivot(on="split", index=["window_id", "model"], values="r2_total")
        .sort("window_id", maintain_order=True)
    )
    if not {"train", "test"} <= set(by_split.columns):
        return []
    above = by_split.filter(pl.col("test") > pl.col("train"))
    return [
        f"window {window_id}: test R2 above training R2 for {', '.join(models)}"
        for window_id, models in above.group_by("window_id", maintain_order=True)
        .agg("model")
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
    """Warn, per window, which characteristics the models that choose them left out, and why."""
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
    # Models of a window share its training panel, so they usually leave out the same set.
    keys = ["window_id", "left_out", "n_left_out", "n_chars", "n_dates"]
    grouped = (
        per_model.group_by(keys, maintain_order=True)
        .agg("model")
        .sort("window_id", maintain_order=True)
    )
    lines = []
    for window_id, left_out, n_left_out, n_chars, n_dates, models in grouped.iter_rows():
        dates = f"; {n_dates} training dates left out of the fit" if n_dates else ""
        lines.append(
            f"window {window_id}: {', '.join(models)} use {n_chars - n_left_out} of {n_chars} "
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
