"""PNG plots of a run's output tables, one figure per question a researcher asks of a run.

Factor returns, R2 by window, long-short returns, pricing errors, characteristic importance and
beta spreads.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no
global figure state), so plotting is safe in flows, threads and headless CI. Each `plot_*`
function takes Polars frames shaped like the output tables and writes one PNG; the numbers it
draws come from a pure function next to it (`cumulative_factor_returns`, `beta_quantiles`,
`r2_by_window`) that tests check directly.
"""

from __future__ import annotations

import base64
import io
import math
import os
from pathlib import Path

import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from PIL import Image

from cae.home import Home, HomeLike
from cae.runs import outputs
from cae.runs.r2_format import labelled_models, sort_models

__all__ = [
    "PLOTS",
    "aligned_factor_returns",
    "beta_quantiles",
    "cumulative_factor_returns",
    "cumulative_long_short",
    "data_uri",
    "plot_beta_distributions",
    "plot_cumulative_factors",
    "plot_importance",
    "plot_long_short",
    "plot_pricing_errors",
    "plot_r2_by_window",
    "plots_dir",
    "r2_by_window",
    "write_plots",
]

PLOTS = (
    "cumulative_factors",
    "r2_by_window",
    "long_short",
    "pricing_errors",
    "importance",
    "beta_distributions",
)
SIGNIFICANT_T = 1.96  # a pricing error whose |t| exceeds this is drawn filled (5%, two-sided)
DPI = 120  # pixels per inch: crisp when the report stretches a figure to a wide page
FIGURE_WIDTH_IN = 12.0  # every figure: one width, so the report's figures line up
PANEL_HEIGHT_IN = 3.0  # one row of panels
PNG_COLORS = 256  # a few dozen line colours and their antialiased edges: no visible loss
MAX_COLUMNS = 2  # panels side by side: ten models in five rows, not ten
# "s2_f1" is ensemble member 2's factor f1 (`autoencoder.estimator`); its seed sits in the name.
MEMBER_PREFIX = r"^s(\d+)_"
# Latent factors (PCA, IPCA, the autoencoders) have no natural sign; named factors (mkt, ls_*,
# a characteristic's slope) do and are never flipped.
LATENT_FACTOR = r"^f\d+$"
BETA_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)  # whiskers at 5%/95%: robust to a few wild betas


def plots_dir(home: HomeLike, run_id: str) -> Path:
    """Return `<home>/outputs/plots/run_id=<id>/`, where a run's PNGs live."""
    return Home.of(home).plots(run_id)


def aligned_factor_returns(
    factors: pl.DataFrame, windows: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Return each model's factor returns in its test blocks, seed-averaged and sign-aligned.

    An autoencoder ensemble stores one factor per member ("s2_f1"); member factors are
    identified only up to sign, so each member's factor is flipped where it correlates
    negatively, over the window's test dates, with the same factor of the first member, and
    the members are then averaged (GKX average the ensemble's fits). Each window refits, so a
    latent factor (`LATENT_FACTOR`) is then flipped where its training-block mean (`lambda` on
    the window's first test date, known before it) is negative: a window's factor then earns
    a positive premium in sample whichever sign the fit chose. With `windows`, only dates
    inside a window's test block are kept. Returns
    `model, window_id, factor, date, value, n_seeds`.
    """
    rows = factors
    if windows is not None:
        rows = rows.join(windows.select("window_id", "test_start", "test_end"), on="window_id")
        rows = rows.filter(pl.col("date").is_between(pl.col("test_start"), pl.col("test_end")))
    block = ["window_id", "model", "factor"]
    rows = rows.with_columns(
        seed=pl.col("factor").str.extract(MEMBER_PREFIX, 1).cast(pl.Int64).fill_null(1),
        factor=pl.col("factor").str.replace(MEMBER_PREFIX, ""),
    )
    reference = rows.filter(pl.col("seed") == pl.col("seed").min().over(block))
    signs = (
        rows.join(
            reference.select(*block, "date", pl.col("value").alias("reference")),
            on=[*block, "date"],
        )
        .group_by(*block, "seed")
        .agg(pl.corr("value", "reference").alias("corr"))
        .with_columns(sign=_sign_of(pl.col("corr")))
    )
    averaged = (
        rows.join(signs, on=[*block, "seed"])
        .group_by(*block, "date")
        .agg(
            (pl.col("value") * pl.col("sign")).mean().alias("value"),
            (pl.col("lambda") * pl.col("sign")).mean().alias("lambda"),
            pl.len().alias("n_seeds"),
        )
        .sort(*block, "date")
    )
    premium = pl.col("lambda").first().over(block)
    orient = pl.when(pl.col("factor").str.contains(LATENT_FACTOR)).then(_sign_of(premium))
    return averaged.with_columns(value=pl.col("value") * orient.otherwise(1.0)).select(
        "model", "window_id", "factor", "date", "value", "n_seeds"
    )


def _sign_of(values: pl.Expr) -> pl.Expr:
    # -1 only for a clearly negative value: a null or NaN (constant series) keeps the sign.
    return pl.when(values < 0).then(-1.0).otherwise(1.0)


def cumulative_factor_returns(
    factors: pl.DataFrame, windows: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Return the running sum of each model's aligned factor returns over dates, out of sample.

    Factors are first seed-averaged and sign-aligned (`aligned_factor_returns`). Where test
    blocks overlap, the latest window (the most recently fitted model) gives the value.
    Returns columns `model, factor, date, value, cumulative`, sorted by model, factor and date.
    """
    return _running_sums(aligned_factor_returns(factors, windows))


def _running_sums(aligned: pl.DataFrame) -> pl.DataFrame:
    return (
        aligned.sort("window_id")
        .group_by("model", "factor", "date")
        .agg(pl.col("value").last())
        .sort("model", "factor", "date")
        .with_columns(cumulative=pl.col("value").cum_sum().over("model", "factor"))
        .select("model", "factor", "date", "value", "cumulative")
    )


def r2_by_window(metrics: pl.DataFrame, windows: pl.DataFrame, split: str = "test") -> pl.DataFrame:
    """Return per-window R2 rows of one split with their test block and a model `label`.

    The label is the model, with its factor count where the run has several. Pooled rows (null
    `window_id`) are dropped: they are not a window. Returns `label, window_id, test_start,
    test_end, r2_total, r2_pred`, labels in family order (`r2_format.sort_models`).
    """
    rows = metrics.filter((pl.col("split") == split) & pl.col("window_id").is_not_null())
    return (
        labelled_models(rows)
        .with_row_index("position")
        .join(windows.select("window_id", "test_start", "test_end"), on="window_id")
        .sort(pl.col("position").min().over("label"), "window_id")
        .select("label", "window_id", "test_start", "test_end", "r2_total", "r2_pred")
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
    """Draw one panel per model with a line per aligned factor's cumulative return; write a PNG.

    Each model has its own y scale: an autoencoder's factors are identified only up to scale,
    so its units are not comparable with an observable factor's returns.
    """
    aligned = aligned_factor_returns(factors, windows)
    curves = _running_sums(aligned)
    models = sort_models(curves["model"])
    n_seeds = dict(aligned.group_by("model").agg(pl.col("n_seeds").max()).iter_rows())
    fig, axes = _panels(len(models))
    for ax, model in zip(axes, models, strict=False):
        for (factor,), curve in curves.filter(pl.col("model") == model).group_by(
            "factor", maintain_order=True
        ):
            ax.plot(curve["date"].to_list(), curve["cumulative"].to_list(), label=str(factor))
        averaged = f", mean of {n_seeds[model]} seeds" if n_seeds[model] > 1 else ""
        ax.set_title(f"{model}{averaged}", fontsize=9)
        _label_axes(ax, "cumulative factor return")
        ax.legend(fontsize=6, ncols=4, loc="upper left")
    fig.suptitle("Cumulative factor returns out of sample (signs aligned)", fontsize=10)
    return _save(fig, path)


def plot_r2_by_window(
    metrics: pl.DataFrame, windows: pl.DataFrame, path: str | os.PathLike[str], split: str = "test"
) -> Path:
    """Draw total and predictive R2 (%) per window over its test block, one line per model."""
    rows = r2_by_window(metrics, windows, split)
    fig, axes = _panels(2, max_columns=1)
    titles = {"r2_total": "total R2", "r2_pred": "predictive R2"}
    for ax, (column, title) in zip(axes, titles.items(), strict=True):
        for (label,), line in rows.group_by("label", maintain_order=True):
            # A step over each test block: the R2 holds for the block, not for one day.
            x = [*line["test_start"].to_list(), line["test_end"][-1]]
            y = [100 * v for v in line[column].to_list()]
            ax.step(x, [*y, y[-1]], where="post", label=label)
        ax.set_title(f"{title} by window ({split} blocks)", fontsize=9)
        _label_axes(ax, f"{title} (%)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=7)
    return _save(fig, path)


def plot_beta_distributions(betas: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Draw one box per factor (median, quartiles, 5-95% whiskers), one panel per model."""
    stats = beta_quantiles(betas)
    models = sort_models(stats["model"])
    fig, axes = _panels(len(models))
    for ax, model in zip(axes, models, strict=False):
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
        ax.tick_params(axis="x", labelrotation=90, labelsize=6)
    return _save(fig, path)


def cumulative_long_short(long_short: pl.DataFrame) -> pl.DataFrame:
    """Return each model's long-short return summed over its test dates (`date, model, cum`).

    A long-short portfolio holds a fixed notional, so its returns add (as `max_drawdown` reads
    them); windows follow each other in date order.
    """
    return (
        long_short.sort("model", "date", "window_id")
        .with_columns(pl.col("ret_ew").cum_sum().over("model").alias("cum"))
        .select("date", "model", "cum")
    )


def plot_long_short(long_short: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Draw the cumulative decile long-short return of each model over the test dates."""
    rows = cumulative_long_short(long_short)
    fig, (ax,) = _panels(1, max_columns=1)
    for model in sort_models(rows["model"]):
        line = rows.filter(pl.col("model") == model)
        ax.plot(line["date"].to_list(), (100 * line["cum"]).to_list(), label=model, linewidth=1)
    ax.set_title(
        "Decile long-short portfolios sorted on predicted returns (equal-weighted)", fontsize=9
    )
    _label_axes(ax, "cumulative return (%)")
    ax.legend(fontsize=7, ncols=4, loc="upper left")
    return _save(fig, path)


def plot_pricing_errors(pricing: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Draw GKX Figure 3: each test asset's pooled alpha against its mean return, per model.

    Assets whose alpha has |t| above `SIGNIFICANT_T` are filled; a model that prices the
    assets leaves its points near the horizontal line at zero.
    """
    pooled = pricing.filter(pl.col("window_id").is_null())
    models = sort_models(pooled["model"])
    fig, axes = _panels(len(models))
    for ax, model in zip(axes, models, strict=False):
        rows = pooled.filter(pl.col("model") == model)
        significant = rows["t_alpha"].abs().fill_null(0.0) > SIGNIFICANT_T
        for mask, style in ((~significant, "none"), (significant, "C3")):
            part = rows.filter(mask)
            ax.scatter(
                (100 * part["mean_ret"]).to_list(),
                (100 * part["alpha"]).to_list(),
                s=14,
                facecolors=style,
                edgecolors="C3" if style != "none" else "C0",
            )
        ax.axhline(0.0, color="grey", linewidth=0.5)
        ax.set_title(
            f"{model}: {int(significant.sum())} of {rows.height} alphas |t| > {SIGNIFICANT_T}",
            fontsize=9,
        )
        ax.set_xlabel("mean return (%)", fontsize=8)
        ax.set_ylabel("alpha (%)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("Pricing errors of the managed portfolios, pooled over test blocks", fontsize=10)
    return _save(fig, path)


def plot_importance(importance: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Draw GKX Figure 5: each characteristic's share of the drop in test R2, per model."""
    pooled = importance.filter(pl.col("window_id").is_null() & pl.col("importance").is_not_null())
    models = sort_models(pooled["model"])
    fig, axes = _panels(len(models))
    for ax, model in zip(axes, models, strict=False):
        rows = pooled.filter(pl.col("model") == model).sort("importance")
        ax.barh(rows["characteristic"].to_list(), rows["importance"].to_list(), color="C0")
        ax.set_title(f"{model}: characteristic importance", fontsize=9)
        ax.set_xlabel("share of the drop in test total R2", fontsize=8)
        ax.tick_params(labelsize=6)
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
        "long_short": outputs.read_table(home, "long_short", run_id),
        "pricing_errors": outputs.read_table(home, "pricing_errors", run_id),
        "importance": outputs.read_table(home, "importance", run_id).drop_nulls("importance"),
        "beta_distributions": outputs.read_table(home, "betas", run_id),
    }
    draw = {
        "long_short": plot_long_short,
        "pricing_errors": plot_pricing_errors,
        "importance": plot_importance,
        "beta_distributions": plot_beta_distributions,
    }
    written = {}
    for name, frame in tables.items():
        if frame.is_empty():
            continue
        tmp = outputs.scratch_path(home, ".png")
        if name == "cumulative_factors":
            plot_cumulative_factors(frame, tmp, None if windows.is_empty() else windows)
        elif name == "r2_by_window":
            if r2_by_window(frame, windows).is_empty():
                continue
            plot_r2_by_window(frame, windows, tmp)
        else:
            draw[name](frame, tmp)
        written[name] = folder / f"{name}.png"
        os.replace(tmp, written[name])
    return written


def data_uri(path: str | os.PathLike[str]) -> str:
    """Return a PNG file as a `data:` URI, for HTML and markdown that must carry their images.

    A `file://` link is refused by browsers and names the wrong machine once the Prefect server
    is remote; an inline image shows wherever the page is opened.
    """
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _panels(n_panels: int, max_columns: int = MAX_COLUMNS) -> tuple[Figure, list]:
    """Return a figure of `n_panels` axes, `max_columns` side by side; unused cells stay blank."""
    n_columns = max(1, min(n_panels, max_columns))
    n_rows = max(1, math.ceil(n_panels / n_columns))
    fig = Figure(figsize=(FIGURE_WIDTH_IN, PANEL_HEIGHT_IN * n_rows), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(n_rows, n_columns, i + 1) for i in range(max(n_panels, 1))]
    return fig, axes


def _label_axes(ax: Axes, y_label: str) -> None:
    """Label a panel whose x axis holds test dates; short date ticks that do not collide."""
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_xlabel("test date", fontsize=8)
    ax.set_ylabel(y_label, fontsize=8)
    ax.axhline(0.0, color="grey", linewidth=0.5)
    ax.tick_params(labelsize=7)


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    # A palette PNG: a third of the bytes, and every run's summary artifact carries its plots.
    drawn = io.BytesIO()
    fig.savefig(drawn, format="png")
    with Image.open(drawn) as image:
        image.convert("RGB").quantize(colors=PNG_COLORS).save(path, format="PNG", optimize=True)
    return Path(path)
