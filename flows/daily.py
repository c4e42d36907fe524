"""The `daily` flow: ingest -> build_panel -> train -> publish, each step incremental."""

from __future__ import annotations

import dataclasses

import polars as pl
from prefect import flow, get_run_logger, tags
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from cae import pipeline
from cae.pipeline import RunConfig
from cae.runs import outputs
from cae.runs.r2_format import pooled_r2_table, pooled_title, text_table
from flows.build_panel import build_panel
from flows.ingest import ingest
from flows.names import name_flow_run, run_tags
from flows.publish import SUMMARY_KEY, PublishedRun, publish
from flows.runners import task_runner
from flows.train import train

__all__ = ["daily"]


DAILY_PREFIX = "daily "


def _daily_run_name() -> str:
    # Prefect names the flow run with this when it starts, so even its first log line carries
    # the cae run id; the flow reads the id back from its name.
    return DAILY_PREFIX + outputs.new_run_id()


@flow(name="daily", flow_run_name=_daily_run_name)
def daily(home: str, config: RunConfig | None = None, runner: str = "threads") -> PublishedRun:
    """Run the whole pipeline once: new prices in, the run's outputs and artifacts out.

    Ingest and the panel are incremental; windows whose inputs did not change come from cache.
    The run id is chosen first, so this flow run and its subflows are named `daily RUN_ID`,
    `ingest RUN_ID`, ... and tagged with the run id (and, from the panel on, the data version);
    the pooled R2 table and the warnings end this run's log.
    """
    config = config or RunConfig()
    name = flow_run.name or ""
    run_id = name.removeprefix(DAILY_PREFIX) if name.startswith(DAILY_PREFIX) else None
    run_id = run_id or outputs.new_run_id()  # a deployment may name its runs otherwise
    name_flow_run(f"daily {run_id}", run_tags(run_id))
    with tags(*run_tags(run_id)):
        ingest_report = ingest.with_options(flow_run_name=f"ingest {run_id}")(home, config.source)
        panel_path = build_panel.with_options(flow_run_name=f"build_panel {run_id}")(
            home, config.freq, config.panels, config.panel
        )
    version = pipeline.panel_version_of(panel_path)
    previous = pipeline.unchanged_run(home, config, panel_path)
    if previous is not None:
        return _nothing_new(previous, version)
    found_by = run_tags(run_id, version)
    name_flow_run(f"daily {run_id}", found_by)
    with tags(*found_by):
        trainer = train.with_options(
            task_runner=task_runner(runner, config.workers), flow_run_name=f"train {run_id}"
        )
        _, window_ids, trained = trainer(home, panel_path, config, run_id)
        try:
            published = publish.with_options(flow_run_name=f"publish {run_id}")(
                home, run_id, panel_path, window_ids, trained, config, ingest_report
            )
        except BaseException as error:  # e.g. Ctrl-C before publishing began
            pipeline.fail_step(home, run_id, outputs.failure_reason(error))
            raise
    # The run's own page shows the summary and the R2 table too, not only its publish subflow.
    create_markdown_artifact(published.summary, key=SUMMARY_KEY, description=f"cae run {run_id}")
    _log_results(published)
    return dataclasses.replace(published, ui_url=flow_run.ui_url)


def _nothing_new(previous: str, version: str) -> PublishedRun:
    """End a run that would repeat `previous`: same config, no new data since."""
    line = f"no new data since run {previous} (data version {version}): nothing to run"
    name_flow_run(f"daily: no new data since {previous}", run_tags(previous, version))
    get_run_logger().info(line)
    return PublishedRun(None, line, (), flow_run.ui_url, no_new_data_since=previous)


def _log_results(published: PublishedRun) -> None:
    logger = get_run_logger()
    pooled = published.published.pooled
    if pooled:
        frame = pooled_r2_table(pl.DataFrame(pooled))
        table = text_table(frame.columns, frame.iter_rows())
        logger.info("%s\n%s", pooled_title(published.published.run_id), table)
    for line in published.warnings:
        logger.warning("warning: %s", line)
