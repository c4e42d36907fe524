"""PNG plots of a run's output tables: cumulative factor returns, R2 by window, beta spreads.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no
global figure state), so plotting is safe in flows, threads and headless CI. Each `plot_*`
function takes Polars frames shaped like the output tables and writes one PNG; the numbers it
draws come from a pure function next to it (`cumulative_factor_returns`, `beta_quantiles`,
`r2_by_window`) that tests check directly.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cae.home import Home, HomeLike
from cae.runs import outputs

__all__ = [
    "PLOTS",
    "beta_quantiles",
    "cumulative_factor_returns",
    "plot_beta_distributions",
    "plot_cumulative_factors",
    "plot_r2_by_window",
    "plots_dir",
    "r2_by_window",
    "write_plots",
]

PLOTS = ("cumulative_factors", "r2_by_window", "beta_distributions")
DPI = 100
PANEL_SIZE_IN = (8.0, 3.0)  # width, height of one model's panel, in inches
BETA_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)  # whiskers at 5%/95%: robust to a few wild betas


def plots_dir(home: HomeLike, run_id: str) -> Path:
    """Return `<home>/outputs/plots/run_id=<id>/`, where a run's PNGs live."""
    return Home.of(home).plots(run_id)


def cumulative_factor_returns(
    factors: pl.DataFrame, windows: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Return the running sum of each model's factor returns over dates, out of sample.

    With `windows`, only dates inside a window's test block are kept, so the curve never shows
    a factor on dates the model was fitted on. Where test blocks overlap, the latest window
    (the most recently fitted model) gives the value. Returns columns
    `model, factor, date, value, cumulative`, sorted by model, factor and date.
    """
    rows = factors
    if windows is not None:
        rows = rows.join(windows.select("window_id", "test_start", "test_end"), on="window_id")
        rows = rows.filter(pl.col("date").is_between(pl.col("test_start"), pl.col("test_end")))
    return (
        rows.sort("window_id")
        .group_by("model", "factor", "date")
        .agg(pl.col("value").last())
        .sort("model", "factor", "date")
        .with_columns(cumulative=pl.col("value").cum_sum().over("model", "factor"))
        .select("model", "factor", "date", "value", "cumulative")
    )


def r2_by_window(metrics: pl.DataFrame, split: str = "test") -> pl.DataFrame:
    """Return per-window R2 rows of one split with a `label` of model and factor count.

    Pooled rows (null `window_id`) are dropped: they are not a window.
    """
    return (
        metrics.filter((pl.col("split") == split) & pl.col("window_id").is_not_null())
        .with_columns(label=pl.format("{} K={}", pl.col("model"), pl.col("n_factors")))
        .sort("label", "window_id")
        .select("label", "window_id", "r2_total", "r2_pred")
    )


def beta_quantiles(betas: pl.DataFrame) -> pl.DataFrame:
    """Return the 5/25/50/75/95% quantiles of beta for each model and factor, over all rows."""
    names = [f"q{round(q * 100):02d}" for q in BETA_QUANTILES]
    return (
        betas.group_by("model", "factor")
        .agg(
            *[
                pl.col("beta").quantile(q, interpolation="linear").alias(n)
                for q, n in zip(BETA_QUANTILES, names, strict=True)
            ],
            pl.len().alias("n"),
        )
        .sort("model", "factor")
    )


def plot_cumulative_factors(
    factors: pl.DataFrame, path: str | os.PathLike[str], windows: pl.DataFrame | None = None
) -> Path:
    """Draw one panel per model with a line per factor's cumulative return; write a PNG."""
    curves = cumulative_factor_returns(factors, windows)
    models = curves["model"].unique(maintain_order=True).to_list()
    fig = _figure(len(models))
    for i, model in enumerate(models):
        ax = fig.add_subplot(len(models), 1, i + 1)
        for (factor,), curve in curves.filter(pl.col("model") == model).group_by(
            "factor", maintain_order=True
        ):
            ax.plot(curve["date"].to_list(), curve["cumulative"].to_list(), label=str(factor))
        ax.set_title(f"{model}: cumulative factor return (sum, out of sample)", fontsize=9)
        ax.axhline(0.0, color="grey", linewidth=0.5)
        ax.legend(fontsize=7, ncols=6, loc="upper left")
    return _save(fig, path)


def plot_r2_by_window(
    metrics: pl.DataFrame, path: str | os.PathLike[str], split: str = "test"
) -> Path:
    """Draw total and predictive R2 per window, one line per model and factor count."""
    rows = r2_by_window(metrics, split)
    fig = _figure(2)
    for i, column in enumerate(("r2_total", "r2_pred")):
        ax = fig.add_subplot(2, 1, i + 1)
        for (label,), line in rows.group_by("label", maintain_order=True):
            ax.plot(line["window_id"].to_list(), line[column].to_list(), marker="o", label=label)
        ax.set_title(f"{column} by window ({split})", fontsize=9)
        ax.set_xlabel("window_id", fontsize=8)
        ax.axhline(0.0, color="grey", linewidth=0.5)
        ax.legend(fontsize=7, ncols=4, loc="best")
    return _save(fig, path)


def plot_beta_distributions(betas: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Draw one box per factor (median, quartiles, 5-95% whiskers), one panel per model."""
    stats = beta_quantiles(betas)
    models = stats["model"].unique(maintain_order=True).to_list()
    fig = _figure(len(models))
    for i, model in enumerate(models):
        ax = fig.add_subplot(len(models), 1, i + 1)
        boxes = [
            {
                "label": str(row["factor"]),
                "whislo": row["q05"],
                "q1": row["q25"],
                "med": row["q50"],
                "q3": row["q75"],
                "whishi": row["q95"],
                "fliers": [],
            }
            for row in stats.filter(pl.col("model") == model).iter_rows(named=True)
        ]
        ax.bxp(boxes, showfliers=False)
        ax.set_title(f"{model}: beta distribution by factor (5-95%)", fontsize=9)
    return _save(fig, path)


def write_plots(home: HomeLike, run_id: str) -> dict[str, Path]:
    """Write every plot a run's published tables allow; return plot name -> PNG path.

    A plot whose table is empty (e.g. a run that stored no betas) is skipped, not drawn blank.
    """
    folder = plots_dir(home, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    windows = outputs.read_table(home, "windows", run_id)
    tables = {
        "cumulative_factors": outputs.read_table(home, "factors", run_id),
        "r2_by_window": outputs.read_table(home, "metrics", run_id),
        "beta_distributions": outputs.read_table(home, "betas", run_id),
    }
    written = {}
    for name, frame in tables.items():
        if frame.is_empty():
            continue
        tmp = outputs.scratch_path(home, ".png")
        if name == "cumulative_factors":
            plot_cumulative_factors(frame, tmp, None if windows.is_empty() else windows)
        elif name == "r2_by_window":
            if r2_by_window(frame).is_empty():
                continue
            plot_r2_by_window(frame, tmp)
        else:
            plot_beta_distributions(frame, tmp)
        written[name] = folder / f"{name}.png"
        os.replace(tmp, written[name])
    return written


def _figure(n_panels: int) -> Figure:
    width, height = PANEL_SIZE_IN
    fig = Figure(figsize=(width, height * max(n_panels, 1)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    fig.savefig(path, format="png")
    return Path(path)
