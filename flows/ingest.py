"""The `ingest` flow: load a source into the warehouse."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.tasks import exponential_backoff

from cae import pipeline, warehouse
from cae.errors import CaeError
from cae.pipeline import IngestResult
from cae.runs.summary import ingest_markdown

__all__ = ["INGEST_KEY", "ingest", "ingest_task", "worth_retrying"]

INGEST_KEY = "cae-ingest"

IO_RETRIES = 3  # a warehouse held by another writer, or a file still being copied
IO_RETRY_DELAYS = exponential_backoff(backoff_factor=2)  # 2, 4, 8 seconds


def worth_retrying(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a failed I/O task unless bad input (a `CaeError`) or a stop signal failed it."""
    try:
        state.result()
    except CaeError:
        return False
    except Exception as error:
        return not warehouse.is_interrupted_query(error)
    return True


@task(
    retries=IO_RETRIES,
    retry_delay_seconds=IO_RETRY_DELAYS,
    retry_condition_fn=worth_retrying,
    cache_policy=None,
)
def ingest_task(home: str, source: str) -> IngestResult:
    """Ingest `source` into the warehouse of `home`."""
    return pipeline.ingest_step(home, source)


@flow(name="ingest")
def ingest(home: str, source: str = "sample") -> IngestResult:
    """Load `source` (a named source, a file or a drop folder) into the warehouse."""
    report = ingest_task(home, source)
    get_run_logger().info(
        "ingested %s: %d new rows, %d changed, %d rejected (data version %s)",
        source,
        report.rows_new,
        report.rows_changed,
        report.rows_rejected,
        report.data_version,
    )
    create_markdown_artifact(ingest_markdown(source, report), key=INGEST_KEY)
    return report
