"""`cae report RUN_ID`: one self-contained HTML file with a run's tables and plots.

Everything is inline (CSS, PNGs as base64 data URIs), so the file can be mailed, attached to a
Prefect artifact or opened offline. Tables come from the published Parquet partitions, so a
report never needs a DuckDB lock.
"""

from __future__ import annotations

import base64
import html
import json
import os
from datetime import date, datetime
from pathlib import Path

import polars as pl

from cae.errors import CaeError
from cae.home import Home, HomeLike
from cae.runs import outputs, plots

__all__ = ["render_report", "report_path", "summarise_metrics", "write_report"]

FLOAT_DIGITS = 4  # R2 on daily returns lives in the 1e-3..1e-1 range; 4 digits show it
POOLING_PARTS = ("sse_total", "sse_pred", "ssy")  # stored for pooling; not for reading
MAX_TABLE_ROWS = 200  # a per-window table beyond this is for SQL, not for reading

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; } td.text { text-align: left; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; }
img { max-width: 100%; border: 1px solid #ddd; margin-bottom: 1em; }
"""


def report_path(home: HomeLike, run_id: str) -> Path:
    """Return the default report file, `<home>/outputs/reports/<run_id>.html`."""
    return Home.of(home).report(run_id)


def summarise_metrics(metrics: pl.DataFrame, split: str = "test") -> pl.DataFrame:
    """Summarise per-window R2 of one split by model and factor count.

    Returns `model, n_factors, windows, r2_total_pooled, r2_pred_pooled, r2_total_mean,
    r2_pred_mean, r2_total_min, r2_total_max, n_obs`. The pooled columns are GKX's pooled R2,
    `1 - sum(sse) / sum(ssy)` over windows, and are null unless every window stored its sums;
    a mean of window R2s is not a pooled R2. Pooled rows (null `window_id`) are excluded.
    """
    absent = [c for c in POOLING_PARTS if c not in metrics.columns]
    metrics = metrics.with_columns(pl.lit(None, pl.Float64).alias(c) for c in absent)
    complete = pl.col("ssy").is_not_null().all()
    return (
        metrics.filter((pl.col("split") == split) & pl.col("window_id").is_not_null())
        .group_by("model", "n_factors")
        .agg(
            pl.len().alias("windows"),
            pl.when(complete)
            .then(1 - pl.col("sse_total").sum() / pl.col("ssy").sum())
            .alias("r2_total_pooled"),
            pl.when(complete & pl.col("sse_pred").is_not_null().all())
            .then(1 - pl.col("sse_pred").sum() / pl.col("ssy").sum())
            .alias("r2_pred_pooled"),
            pl.col("r2_total").mean().alias("r2_total_mean"),
            pl.col("r2_pred").mean().alias("r2_pred_mean"),
            pl.col("r2_total").min().alias("r2_total_min"),
            pl.col("r2_total").max().alias("r2_total_max"),
            pl.col("n_obs").sum(),
        )
        .sort("model", "n_factors")
    )


def render_report(home: HomeLike, run_id: str) -> str:
    """Return the HTML report of one run; raise `CaeError` if the run does not exist."""
    run = outputs.read_table(home, "runs", run_id)
    if run.is_empty():
        raise CaeError(f"no run {run_id} in {Home.of(home).outputs}")
    info = run.row(0, named=True)
    metrics = outputs.read_table(home, "metrics", run_id)
    windows = outputs.read_table(home, "windows", run_id).drop("run_id").sort("window_id")
    pooled = (
        metrics.filter(pl.col("window_id").is_null())
        .select("model", "n_factors", "split", "r2_total", "r2_pred", "n_obs")
        .sort("split", "model", "n_factors")
    )
    per_window = metrics.filter(pl.col("window_id").is_not_null()).drop("run_id", *POOLING_PARTS)
    per_window = per_window.sort("window_id", "model", "n_factors", "split")
    sections = [
        f"<h1>cae run {html.escape(run_id)}</h1>",
        _table(run.select("status", "created_at", "finished_at", "code_version", "data_version")),
        "<h2>Out-of-sample R² pooled over windows</h2>",
        _table(pooled) if not pooled.is_empty() else "<p>No pooled metrics stored.</p>",
        "<h2>Test R² by model (summary of windows)</h2>",
        _table(summarise_metrics(metrics)),
        "<h2>Windows</h2>",
        _table(windows),
    ]
    for name, path in plots.write_plots(home, run_id).items():
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        sections.append(f"<h2>{html.escape(name.replace('_', ' '))}</h2>")
        sections.append(f'<img alt="{name}" src="data:image/png;base64,{encoded}">')
    sections += [
        "<h2>Metrics by window</h2>",
        _table(per_window),
        "<h2>Configuration</h2>",
        f"<pre>{html.escape(json.dumps(json.loads(info['config_json']), indent=2))}</pre>",
    ]
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>cae run {html.escape(run_id)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def write_report(
    home: HomeLike,
    run_id: str,
    path: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the HTML report of one run (default: `report_path`) atomically; return its path."""
    target = Path(path) if path is not None else report_path(home, run_id)
    text = render_report(home, run_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    return target


def _table(frame: pl.DataFrame) -> str:
    shown = frame.head(MAX_TABLE_ROWS)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in shown.columns)
    rows = []
    for row in shown.iter_rows():
        cells = "".join(_cell(value) for value in row)
        rows.append(f"<tr>{cells}</tr>")
    more = frame.height - shown.height
    note = f"<p>{more} more rows not shown; query them with SQL.</p>" if more > 0 else ""
    return f"<table>\n<tr>{head}</tr>\n" + "\n".join(rows) + "\n</table>" + note


def _cell(value: object) -> str:
    if value is None:
        return "<td></td>"
    if isinstance(value, float):
        return f"<td>{value:.{FLOAT_DIGITS}f}</td>"
    if isinstance(value, int):
        return f"<td>{value}</td>"
    if isinstance(value, datetime):
        return f'<td class="text">{value:%Y-%m-%d %H:%M:%S %Z}</td>'
    if isinstance(value, date):
        return f'<td class="text">{value.isoformat()}</td>'
    return f'<td class="text">{html.escape(str(value))}</td>'
