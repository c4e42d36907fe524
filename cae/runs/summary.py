"""Markdown summaries of a pipeline run and of its steps (ingest, panel, training).

Pure text from the small dataclasses the pipeline steps return, so the Prefect UI's markdown
artifacts (one on every flow run) and a test can render the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import polars as pl

from cae.runs.r2_format import format_r2, pooled_r2_table, pooled_title, sort_models

if TYPE_CHECKING:  # cae.pipeline imports cae.runs
    from cae.pipeline import IngestResult, PanelSummary, Published, WindowResult

__all__ = ["ingest_markdown", "panel_markdown", "summary_markdown", "windows_markdown"]


def summary_markdown(
    panel: PanelSummary,
    trained: Sequence[WindowResult],
    published: Published,
    ingest: IngestResult | None = None,
    images: Mapping[str, str] | None = None,
    warnings: Sequence[str] = (),
) -> str:
    """Return the run's summary as markdown.

    `panel` is `pipeline.panel_summary`, `trained` the `train_window_step` results, `published`
    the `publish_step` result and `ingest` the `ingest_step` result of this run, if it ingested.
    The R2 table holds the pooled test rows (GKX's out-of-sample R2, `r2_format`); `warnings`
    (`cae.runs.warnings.run_warnings`) come above it. `images` maps plot names to `data:` URIs
    (`plots.data_uri`), shown inline: the Prefect UI renders them, where it refuses `file://`
    links and could not reach a remote server's files.
    """
    n_cached = sum(1 for t in trained if t.cached)
    rejected = "not ingested in this run" if ingest is None else f"{ingest.rows_rejected:,}"
    lines = [
        f"# cae run `{published.run_id}`",
        "",
        f"- data: {panel.first_date} to {panel.last_date} ({panel.n_dates} dates)",
        f"- universe: {panel.n_tickers} tickers, {panel.n_rows:,} ticker-dates",
        f"- rejected rows: {rejected}",
        f"- windows: {len(trained)} ({len(trained) - n_cached} trained, {n_cached} from cache)",
        *_chars_used_lines(trained),
        *_warning_lines(warnings),
        "",
        f"## {pooled_title(published.run_id)}",
        "",
    ]
    if published.pooled:
        lines += _markdown_table(pooled_r2_table(pl.DataFrame(published.pooled)))
    if images:
        lines += ["", "## Plots"]
        lines += [f"\n![{name}]({uri})" for name, uri in images.items()]
    return "\n".join(lines) + "\n"


def ingest_markdown(source: str, report: IngestResult) -> str:
    """Return what one ingest did (`pipeline.ingest_step`'s report) as markdown."""
    return "\n".join(
        [
            f"# cae ingest `{source}`",
            "",
            f"- files: {report.files}",
            f"- rows: {report.rows_new:,} new, {report.rows_changed:,} changed, "
            f"{report.rows_rejected:,} rejected (kept in `rejected_rows`)",
            f"- data version: `{report.data_version}`",
            "",
        ]
    )


def panel_markdown(path: str, panel: PanelSummary, refreshed: Sequence[str]) -> str:
    """Return the frozen panel's summary (`pipeline.panel_summary`) as markdown."""
    return "\n".join(
        [
            "# cae panel",
            "",
            f"- refreshed: {', '.join(f'`characteristics_{f}`' for f in refreshed)}",
            f"- frozen for training: `{path}`",
            f"- data: {panel.first_date} to {panel.last_date} ({panel.n_dates} dates)",
            f"- universe: {panel.n_tickers} tickers, {panel.n_rows:,} ticker-dates",
            "",
        ]
    )


def windows_markdown(run_id: str, trained: Sequence[WindowResult]) -> str:
    """Return each window's test R2 by model (`train_window_step` results) as markdown."""
    models = sort_models(m for t in trained for m in t.r2_total)
    lines = [
        f"# cae training, run `{run_id}`",
        "",
        "Test-block total R2 per window (%).",
        "",
        "| window | state | " + " | ".join(models) + " |",
        "| ---: | --- | " + " | ".join("---:" for _ in models) + " |",
    ]
    for t in trained:
        state = "from cache" if t.cached else "trained"
        cells = " | ".join(format_r2(t.r2_total.get(m)) for m in models)
        lines.append(f"| {t.window_id} | {state} | {cells} |")
    return "\n".join(lines) + "\n"


def _chars_used_lines(trained: Sequence[WindowResult]) -> list[str]:
    # Models that choose their characteristics per window (cae.models._chars): the range over
    # windows of how many they used, so a warm-up that cost most of them shows at a glance.
    used: dict[str, list[int]] = {}
    total: dict[str, int] = {}
    for t in trained:
        for model, (n_used, n_all) in t.chars_used.items():
            used.setdefault(model, []).append(n_used)
            total[model] = n_all
    if not used:
        return []
    parts = [
        f"{model} {min(n)}" + (f"-{max(n)}" if max(n) != min(n) else "") + f" of {total[model]}"
        for model, n in used.items()
    ]
    return [f"- characteristics used per window (table `inputs`): {', '.join(parts)}"]


def _markdown_table(frame: pl.DataFrame) -> list[str]:
    # The first column is a name (left-aligned); the others are numbers formatted as text.
    align = ["---", *("---:" for _ in frame.columns[1:])]
    lines = ["| " + " | ".join(frame.columns) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in frame.iter_rows()]
    return lines


def _warning_lines(warnings: Sequence[str]) -> list[str]:
    if not warnings:
        return []
    return ["", "## Warnings", "", *(f"- {line}" for line in warnings)]
