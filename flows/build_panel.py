"""The `build_panel` flow: refresh the characteristics panel and freeze it for training."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from cae import pipeline
from cae.runs.summary import panel_markdown
from flows.ingest import IO_RETRIES, IO_RETRY_DELAYS, worth_retrying

__all__ = ["PANEL_KEY", "build_panel", "panel_task"]

PANEL_KEY = "cae-panel"


@task(
    retries=IO_RETRIES,
    retry_delay_seconds=IO_RETRY_DELAYS,
    retry_condition_fn=worth_retrying,
    cache_policy=None,
)
def panel_task(home: str, freq: str, also: tuple[str, ...] = (), panel: str = "auto") -> str:
    """Refresh the panels at `freq` and `also`; return the frozen `freq` file's path."""
    return pipeline.panel_step(home, freq, also, panel)


@flow(name="build_panel")
def build_panel(
    home: str, freq: str = "daily", also: tuple[str, ...] = (), panel: str = "auto"
) -> str:
    """Apply corporate actions, extend the panels, freeze the `freq` one; return its file.

    `panel` (`RunConfig.panel`) may choose the user's own panel at `freq`.
    """
    path = panel_task(home, freq, also, panel)
    summary = pipeline.panel_summary(path)
    get_run_logger().info(
        "panel %s: %s to %s, %d tickers, %d rows",
        path,
        summary.first_date,
        summary.last_date,
        summary.n_tickers,
        summary.n_rows,
    )
    refreshed = list(dict.fromkeys((freq, *also)))
    create_markdown_artifact(panel_markdown(path, summary, refreshed), key=PANEL_KEY)
    return path
