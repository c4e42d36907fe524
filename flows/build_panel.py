"""The `build_panel` flow: refresh the characteristics panel and freeze it for training."""

from __future__ import annotations

from prefect import flow, get_run_logger, task

from cae import pipeline
from flows.ingest import IO_RETRIES, IO_RETRY_DELAYS

__all__ = ["build_panel", "panel_task"]


@task(retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS, cache_policy=None)
def panel_task(home: str, freq: str, also: tuple[str, ...] = ()) -> str:
    """Refresh the panels at `freq` and `also`; return the frozen `freq` file's path."""
    return pipeline.panel_step(home, freq, also)


@flow(name="build_panel")
def build_panel(home: str, freq: str = "daily", also: tuple[str, ...] = ()) -> str:
    """Apply corporate actions, extend the panels, freeze the `freq` one; return its file."""
    path = panel_task(home, freq, also)
    summary = pipeline.panel_summary(path)
    get_run_logger().info(
        "panel %s: %s to %s, %d tickers, %d rows",
        path,
        summary["first_date"],
        summary["last_date"],
        summary["n_tickers"],
        summary["n_rows"],
    )
    return path
