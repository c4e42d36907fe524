"""`cae report [RUN_ID]`: one self-contained HTML file with a run's tables and plots.

Everything is inline (CSS, PNGs as base64 data URIs), so the file can be mailed, attached to a
Prefect artifact or opened offline. Tables come from the published Parquet partitions, so a
report never needs a DuckDB lock.

The report is the sections of `SECTIONS`, in order: each is a function of the run's tables
(`RunTables`) that returns its HTML, or "" when the run has nothing for it. A new section is
one such function plus one entry in `SECTIONS`.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from cae.errors import CaeError
from cae.home import Home, HomeLike
from cae.runs import catalog, outputs, plots
from cae.runs.r2_format import family_rank, pooled_r2_table, r2_grid, sort_models
from cae.runs.warnings import run_warnings

__all__ = [
    "SECTIONS",
    "RunTables",
    "figure_html",
    "render_report",
    "report_path",
    "table_html",
    "write_report",
]

MAX_TABLE_ROWS = 200  # a table beyond this is for SQL, not for reading
FLOAT_DIGITS = 4  # significant digits of a raw float (R2 comes formatted by `r2_format`)
_NUMBER = re.compile(r"-?[\d,]+(\.\d+)?|n/a")

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 2em; max-width: 90em;
       color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; } td.text { text-align: left; }
tr.pooled td { font-weight: bold; border-top: 2px solid #888; }
.wide { overflow-x: auto; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; }
figure { margin: 0 0 1.5em; }
figure img { width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #555; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1.2em; }
dt { font-weight: bold; } dd { margin: 0; }
"""


class RunTables:
    """One run's published tables and plots, each read or drawn once for all sections."""

    def __init__(self, home: HomeLike, run_id: str) -> None:
        self.home = Home.of(home)
        self.run_id = run_id
        run = outputs.read_table(home, "runs", run_id)
        if run.is_empty():
            raise CaeError(f"no run {run_id} in {self.home.outputs}")
        self.run: dict[str, Any] = run.row(0, named=True)
        self.config: dict[str, Any] = json.loads(self.run["config_json"])
        self._tables: dict[str, pl.DataFrame] = {}
        self._plots: dict[str, Path] | None = None

    def table(self, name: str) -> pl.DataFrame:
        """Return the run's rows of one output table (`outputs.TABLES`), without `run_id`."""
        if name not in self._tables:
            self._tables[name] = outputs.read_table(self.home, name, self.run_id).drop("run_id")
        return self._tables[name]

    def plot(self, name: str) -> Path | None:
        """Return the PNG of one of `plots.PLOTS`, or None if the run's tables allow none."""
        if self._plots is None:
            self._plots = plots.write_plots(self.home, self.run_id)
        return self._plots.get(name)


Section = Callable[[RunTables], str]


def report_path(home: HomeLike, run_id: str) -> Path:
    """Return the default report file, `<home>/outputs/reports/<run_id>.html`."""
    return Home.of(home).report(run_id)


def data_section(tables: RunTables) -> str:
    """Show the run, its data and its universe: what the numbers below are about."""
    run, config = tables.run, tables.config
    facts = {
        "status": run["status"] + (f" ({run['failure_reason']})" if run["failure_reason"] else ""),
        "started": run["created_at"],
        "finished": run["finished_at"],
        "data version": run["data_version"],
        "code version": run["code_version"],
        "panel": f"{config.get('freq', '?')} ({config.get('panel', '?')})",
    }
    windows = tables.table("windows")
    if not windows.is_empty():
        facts["training from"] = windows["train_start"].min()
        facts["test blocks"] = (
            f"{windows.height} ({windows['test_start'].min()} to {windows['test_end'].max()})"
        )
    fitted = tables.table("fitted")
    if not fitted.is_empty():
        one_model = fitted.filter(pl.col("model") == fitted["model"][0])
        per_date = one_model.group_by("date").len()["len"]
        facts["universe"] = (
            f"{one_model['ticker'].n_unique():,} tickers in the test blocks, "
            f"{per_date.mean():,.0f} per test date on average ({per_date.min():,} to "
            f"{per_date.max():,}), {one_model.height:,} ticker-dates"
        )
    facts.update(_characteristics_used(tables.table("inputs")))
    items = "\n".join(f"<dt>{html.escape(k)}</dt><dd>{_text(v)}</dd>" for k, v in facts.items())
    return f"<h1>cae run {html.escape(tables.run_id)}</h1>\n<dl>\n{items}\n</dl>"


def _characteristics_used(inputs: pl.DataFrame) -> dict[str, str]:
    # Models that choose their characteristics per window (cae.models._chars): how many of the
    # panel's they used, over windows, so a model that lost most of them shows at a glance.
    if inputs.is_empty():
        return {}
    used = inputs.group_by("model", "window_id").agg(
        pl.col("is_used").sum().alias("n_used"), pl.len().alias("n_all")
    )
    ranges = used.group_by("model").agg(
        pl.col("n_used").min().alias("low"),
        pl.col("n_used").max().alias("high"),
        pl.col("n_all").max(),
    )
    by_model = {row["model"]: row for row in ranges.iter_rows(named=True)}
    parts = []
    for model in sort_models(by_model):
        row = by_model[model]
        span = f"{row['low']}" if row["low"] == row["high"] else f"{row['low']}-{row['high']}"
        parts.append(f"{model} {span} of {row['n_all']}")
    return {"characteristics used per window": ", ".join(parts)}


def r2_section(tables: RunTables) -> str:
    """Show out-of-sample R2 as window x model grids, total and predictive, pooled row last."""
    metrics, windows = tables.table("metrics"), tables.table("windows")
    if metrics.filter(pl.col("split") == "test").is_empty():
        return "<h2>Out-of-sample R²</h2>\n<p>No test metrics stored.</p>"
    parts = [
        "<h2>Out-of-sample R² (%)</h2>",
        "<p>Test blocks, one row per window; <b>all</b> pools every test block (GKX's "
        "out-of-sample R², 1 − Σ squared errors / Σ squared returns).</p>",
    ]
    for column, title in (("r2_total", "Total R²"), ("r2_pred", "Predictive R²")):
        grid = r2_grid(metrics, windows, column)
        parts += [f"<h3>{title}</h3>", table_html(grid, emphasis=pl.col("window") == "all")]
    pooled = metrics.filter(pl.col("window_id").is_null() & (pl.col("split") == "test"))
    if not pooled.is_empty():
        parts += ["<h3>Pooled over test blocks</h3>", table_html(pooled_r2_table(pooled))]
    return "\n".join(parts)


def factors_section(tables: RunTables) -> str:
    """Show cumulative factor returns in the test blocks, members averaged, signs aligned."""
    return figure_html(
        "Cumulative factor returns",
        tables.plot("cumulative_factors"),
        "Sum of daily factor returns over the test blocks, one panel (and y scale) per model. "
        "An autoencoder's ensemble members are sign-aligned to the first member by correlation "
        "and averaged; each window's latent factor is signed so its training-block mean is "
        "positive.",
    )


def r2_by_window_section(tables: RunTables) -> str:
    """Show the total and predictive R2 of each window over its test block's dates."""
    return figure_html(
        "R² by window",
        tables.plot("r2_by_window"),
        "Each line holds a window's test-block R² over the dates of that block.",
    )


def warnings_section(tables: RunTables) -> str:
    """List what to check before trusting the run's numbers (`cae.runs.warnings`)."""
    found = run_warnings(tables.home, tables.run_id)
    if not found:
        return ""
    items = "\n".join(f"<li>{html.escape(line)}</li>" for line in found)
    return f"<h2>Warnings</h2>\n<ul>\n{items}\n</ul>"


def long_short_section(tables: RunTables) -> str:
    """Show the cumulative decile long-short returns and each model's annualised Sharpe ratio."""
    figure = figure_html(
        "Long-short portfolios",
        tables.plot("long_short"),
        "Top minus bottom decile of tickers sorted on each model's predicted return, "
        "equal-weighted, summed over the test dates (GKX 2021, Table 3).",
    )
    if not figure:
        return ""
    summary = catalog.query(
        tables.home,
        "select * exclude (run_id) from long_short_summary where run_id = $run_id",
        params={"run_id": tables.run_id},
        warehouse="none",  # an output view: no warehouse table needed
    )
    return figure + "\n" + table_html(summary.sort(family_rank(summary["model"])))


def pricing_section(tables: RunTables) -> str:
    """Show the managed portfolios' pooled alphas against their mean returns (GKX Figure 3)."""
    pooled = tables.table("pricing_errors").filter(pl.col("window_id").is_null())
    if pooled.is_empty():
        return ""
    per_model = pooled.group_by("model").agg(
        pl.len().alias("assets"),
        (pl.col("t_alpha").abs() > plots.SIGNIFICANT_T).sum().alias("alphas |t| > 1.96"),
        (10_000 * pl.col("alpha").abs().mean()).alias("mean |alpha| (bp)"),
        (100 * pl.col("r2_total").mean()).alias("mean asset R2 total (%)"),
    )
    return (
        figure_html(
            "Pricing errors",
            tables.plot("pricing_errors"),
            "Each point is a test asset (the equal-weighted market and one characteristic-"
            "managed portfolio per characteristic): its mean return and its alpha, return "
            "minus the model's fit, pooled over the test blocks; filled points have |t| > 1.96.",
        )
        + "\n"
        + table_html(per_model.sort(family_rank(per_model["model"])))
    )


def importance_section(tables: RunTables) -> str:
    """Show each characteristic's share of the drop in test R2 when it is zeroed (GKX Fig. 5)."""
    return figure_html(
        "Characteristic importance",
        tables.plot("importance"),
        "The fall in test total R2 when one characteristic is set to zero in the betas "
        "(factors kept), as a share of the model's total; PCA's betas use no characteristic.",
    )


def betas_section(tables: RunTables) -> str:
    """Show the spread of each factor's betas per model (5-95%)."""
    return figure_html("Beta distributions", tables.plot("beta_distributions"), "")


def windows_section(tables: RunTables) -> str:
    """Show the windows: training, validation and test dates of each refit."""
    windows = tables.table("windows")
    return "" if windows.is_empty() else "<h2>Windows</h2>\n" + table_html(windows)


def config_section(tables: RunTables) -> str:
    """Show the run's configuration as stored in `runs.config_json`."""
    text = json.dumps(tables.config, indent=2)
    return f"<h2>Configuration</h2>\n<pre>{html.escape(text)}</pre>"


SECTIONS: tuple[Section, ...] = (
    data_section,
    warnings_section,
    r2_section,
    factors_section,
    r2_by_window_section,
    long_short_section,
    pricing_section,
    importance_section,
    betas_section,
    windows_section,
    config_section,
)


def render_report(home: HomeLike, run_id: str, sections: tuple[Section, ...] = SECTIONS) -> str:
    """Return the HTML report of one run; raise `CaeError` if the run does not exist."""
    tables = RunTables(home, run_id)
    body = "\n".join(part for part in (section(tables) for section in sections) if part)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>cae run {html.escape(run_id)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def write_report(
    home: HomeLike,
    run_id: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the HTML report of one run (default: the latest succeeded) atomically; return its path.

    The default file is `report_path`.
    """
    run_id = run_id if run_id is not None else outputs.latest_run_id(home)
    target = Path(path) if path is not None else report_path(home, run_id)
    text = render_report(home, run_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    return target


def figure_html(title: str, png: Path | None, caption: str) -> str:
    """Return a section with one PNG inlined at the page's width, or "" when there is none."""
    if png is None:
        return ""
    return (
        f"<h2>{html.escape(title)}</h2>\n<figure>\n"
        f'<img alt="{html.escape(title)}" src="{plots.data_uri(png)}">\n'
        f"<figcaption>{html.escape(caption)}</figcaption>\n</figure>"
    )


def table_html(frame: pl.DataFrame, emphasis: pl.Expr | None = None) -> str:
    """Return a frame as an HTML table, its rows where `emphasis` holds in bold (e.g. a total)."""
    shown = frame.head(MAX_TABLE_ROWS)
    marked = (
        shown.select(emphasis.fill_null(False)).to_series().to_list()
        if emphasis is not None
        else [False] * shown.height
    )
    head = "".join(f"<th>{html.escape(c)}</th>" for c in shown.columns)
    rows = []
    for row, bold in zip(shown.iter_rows(), marked, strict=True):
        cells = "".join(_cell(value) for value in row)
        rows.append(f"<tr{' class=pooled' if bold else ''}>{cells}</tr>")
    more = frame.height - shown.height
    note = f"<p>{more} more rows not shown; query them with SQL.</p>" if more > 0 else ""
    return (
        f'<div class="wide"><table>\n<tr>{head}</tr>\n'
        + "\n".join(rows)
        + "\n</table></div>"
        + note
    )


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S %Z}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{FLOAT_DIGITS}g}"
    return html.escape(str(value))


def _cell(value: object) -> str:
    if value is None:
        return "<td></td>"
    text = _text(value)
    # Formatted numbers (an R2 "55.48", a count "41,655") align right like numbers.
    is_number = isinstance(value, int | float) or _NUMBER.fullmatch(text)
    return f"<td>{text}</td>" if is_number else f'<td class="text">{text}</td>'
