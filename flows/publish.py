"""The `publish` flow: publish a trained run and leave its artifacts in the Prefect UI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from cae import pipeline
from cae.pipeline import IngestResult, PanelSummary, Published, RunConfig, WindowResult
from cae.runs.plots import data_uri
from cae.runs.r2_format import pooled_r2_table, pooled_title
from cae.runs.summary import summary_markdown
from cae.runs.warnings import run_warnings
from flows.ingest import IO_RETRIES, IO_RETRY_DELAYS, worth_retrying
from flows.names import name_flow_run, run_tags

__all__ = ["PublishedRun", "publish", "publish_task"]

SUMMARY_KEY = "cae-run-summary"
METRICS_KEY = "cae-oos-metrics"


@dataclass(frozen=True)
class PublishedRun:
    """What the publish and daily flows return: the published run and its summary."""

    published: Published | None  # run id, pooled R2 rows and plots; None: nothing new to run
    summary: str  # the run's markdown summary, as in the Prefect artifact
    warnings: tuple[str, ...] = ()  # `cae.runs.warnings.run_warnings`, also in the summary
    ui_url: str | None = None  # the `daily` flow run's page in the Prefect UI
    # The run that already holds these results when no data changed since (`unchanged_run`).
    no_new_data_since: str | None = None


@task(cache_policy=None)
def publish_task(
    home: str, run_id: str, config: RunConfig, panel_path: str, window_ids: list[int]
) -> Published:
    """Pool, publish and plot the run (a failure marks it failed, so it is not retried)."""
    return pipeline.publish_step(home, run_id, config, panel_path, window_ids)


@task(
    retries=IO_RETRIES,
    retry_delay_seconds=IO_RETRY_DELAYS,
    retry_condition_fn=worth_retrying,
    cache_policy=None,
)
def panel_summary_task(panel_path: str) -> PanelSummary:
    """Read the frozen panel's date range and universe size."""
    return pipeline.panel_summary(panel_path)


@flow(name="publish")
def publish(
    home: str,
    run_id: str,
    panel_path: str,
    window_ids: list[int],
    trained: Sequence[WindowResult],
    config: RunConfig | None = None,
    ingest_report: IngestResult | None = None,
) -> PublishedRun:
    """Publish the run; leave a markdown summary (with its warnings) and a metrics table.

    The flow run is named `publish RUN_ID` and tagged with the run id and data version.
    """
    config = config or RunConfig()
    name_flow_run(f"publish {run_id}", run_tags(run_id, pipeline.panel_version_of(panel_path)))
    published = publish_task(home, run_id, config, panel_path, window_ids)
    panel = panel_summary_task(panel_path)
    images = {name: data_uri(path) for name, path in published.plots.items()}
    warnings = tuple(run_warnings(home, run_id))
    markdown = summary_markdown(panel, trained, published, ingest_report, images, warnings)
    create_markdown_artifact(markdown, key=SUMMARY_KEY, description=f"cae run {run_id}")
    create_table_artifact(
        pooled_r2_table(pl.DataFrame(published.pooled)).to_dicts() if published.pooled else [],
        key=METRICS_KEY,
        description=pooled_title(run_id),
    )
    get_run_logger().info("published run %s: %s", run_id, published.plots)
    return PublishedRun(published, markdown, warnings)
