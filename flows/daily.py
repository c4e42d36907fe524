"""The `daily` flow: ingest -> build_panel -> train -> publish, each step incremental."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from cae import pipeline
from cae.pipeline import RunConfig
from cae.runs import outputs
from flows.build_panel import build_panel
from flows.ingest import ingest
from flows.publish import SUMMARY_KEY, PublishedRun, publish
from flows.runners import task_runner
from flows.train import train

__all__ = ["daily"]


@flow(name="daily")
def daily(home: str, config: RunConfig | None = None, runner: str = "threads") -> PublishedRun:
    """Run the whole pipeline once: new prices in, the run's outputs and artifacts out.

    Ingest and the panel are incremental; windows whose inputs did not change come from cache.
    """
    config = config or RunConfig()
    ingest_report = ingest(home, config.source)
    panel_path = build_panel(home, config.freq, config.panels, config.panel)
    trainer = train.with_options(task_runner=task_runner(runner, config.workers))
    run_id, window_ids, trained = trainer(home, panel_path, config)
    try:
        published = publish(home, run_id, panel_path, window_ids, trained, config, ingest_report)
    except BaseException as error:  # e.g. Ctrl-C before publishing began
        pipeline.fail_step(home, run_id, outputs.failure_reason(error))
        raise
    # The run's own page shows the summary too, not only its publish subflow.
    create_markdown_artifact(published.summary, key=SUMMARY_KEY, description=f"cae run {run_id}")
    return published
