"""The `build_panel` flow: refresh the characteristics panel and freeze it for training."""

from __future__ import annotations

from prefect import flow, get_run_logger, task

from cae import pipeline
from flows.ingest import IO_RETRIES, IO_RETRY_DELAYS

__all__ = ["build_panel", "panel_task"]


@task(retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAYS, cache_policy=None)
def panel_task(home: str, freq: str) -> str:
    """Refresh the panel at `freq`; return the frozen Parquet file's path."""
    return pipeline.panel_step(home, freq)


@flow(name="build_panel")
def build_panel(home: str, freq: str = "daily") -> str:
    """Apply corporate actions, extend the panel, freeze it; return the panel file."""
    path = panel_task(home, freq)
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
