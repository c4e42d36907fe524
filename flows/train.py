"""The `train` flow: one task per window, mapped over the flow's task runner.

A window's task is cached on its inputs (run id, settings, window) plus the panel file's
content hash, which is the data version; across runs `train_window_step` reuses its own
per-window cache, so a re-run on unchanged data fits nothing again.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, tags, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.context import FlowRunContext
from prefect.futures import as_completed, wait

from cae import pipeline
from cae.pipeline import RunConfig, WindowResult
from cae.runs import outputs
from cae.runs.r2_format import format_r2
from cae.runs.summary import windows_markdown
from flows.names import name_flow_run, run_tags

__all__ = [
    "MODEL_DONE",
    "PLANNED",
    "WINDOWS_KEY",
    "WINDOW_DONE",
    "train",
    "train_window_task",
    "window_task_name",
]

WINDOWS_KEY = "cae-windows"

# Log lines that `cae run` follows to draw its progress bar (`cae.cli.progress`).
PLANNED = "training %d windows x %d models"
MODEL_DONE = "window %d: %s done (%d of %d)"
WINDOW_DONE = "window %d done (%d of %d windows)"


def _window_cache_key(context: Any, parameters: dict[str, Any]) -> str:
    key = pipeline.window_cache_dir(
        parameters["home"], parameters["config"], parameters["panel_path"], parameters["window_id"]
    ).name
    return f"{parameters['run_id']}-{key}"


@task(cache_policy=None)
def start_task(home: str, config: RunConfig, panel_path: str, run_id: str | None = None) -> str:
    """Register the run (as `run_id`, if given); return its id."""
    return pipeline.start_step(home, config, panel_path, run_id)


@task(cache_policy=None)
def plan_task(home: str, run_id: str, config: RunConfig, panel_path: str) -> list[int]:
    """Stage the windows table; return the window ids."""
    return pipeline.plan_step(home, run_id, config, panel_path)


@task(cache_key_fn=_window_cache_key, persist_result=True)
def train_window_task(
    home: str, run_id: str, config: RunConfig, panel_path: str, window_id: int
) -> WindowResult:
    """Fit every model on one window and stage its tables."""
    threads = pipeline.set_torch_threads(config)
    logger = get_run_logger()
    done: list[str] = []

    def report_model(name: str) -> None:
        # One line per model: a window of several autoencoders takes minutes on a large panel.
        done.append(name)
        logger.info(MODEL_DONE, window_id, name, len(done), len(config.models))

    result = pipeline.train_window_step(
        home, run_id, config, panel_path, window_id, on_model=report_model
    )
    logger.info(
        "window %d %s (torch threads %d): test R2 (%%) %s",
        window_id,
        "from cache" if result.cached else "trained",
        threads,
        ", ".join(f"{m} {format_r2(r2)}" for m, r2 in result.r2_total.items()),
    )
    return result


@task(cache_policy=None)
def fail_task(home: str, run_id: str, reason: str) -> None:
    """Mark the run failed with `reason`; nothing it staged is published."""
    pipeline.fail_step(home, run_id, reason)


def _stop_windows(futures: list) -> None:
    """Let no window stage tables after this: none starts, and the running ones end first.

    The task runner knows every window submitted, even when an interruption landed inside
    the loop submitting them, before `futures` held them.
    """
    runner = FlowRunContext.get().task_runner
    if hasattr(runner, "cancel_all"):  # the thread and process runners: waits for running ones
        runner.cancel_all()
    else:
        wait(futures)


def window_task_name(window_id: int, test_start: str, test_end: str) -> str:
    """Return a window's task run name: its id and test dates, as searched in the UI."""
    return f"window {window_id}: test {test_start} to {test_end}"


@flow(name="train")
def train(
    home: str, panel_path: str, config: RunConfig | None = None, run_id: str | None = None
) -> tuple[str, list[int], list[WindowResult]]:
    """Register a run, train every window; return (run id, window ids, window results).

    `run_id` is the id to register, else a new one. The flow run is named `train RUN_ID` and
    tagged with the run id and data version; each window's task run is named by
    `window_task_name`. If any window fails the run is marked failed (no rows published) and
    the error re-raised.
    """
    config = config or RunConfig()
    run_id = start_task(home, config, panel_path, run_id)
    found_by = run_tags(run_id, pipeline.panel_version_of(panel_path))
    futures = []
    try:
        name_flow_run(f"train {run_id}", found_by)
        window_ids = plan_task(home, run_id, config, panel_path)
        progress = create_progress_artifact(0.0, description=f"windows trained, run {run_id}")
        blocks = pipeline.window_test_dates(config, panel_path)
        logger = get_run_logger()
        logger.info(PLANNED, len(window_ids), len(config.models))
        with tags(*found_by):
            for window_id in window_ids:
                named = train_window_task.with_options(
                    task_run_name=window_task_name(window_id, *blocks[window_id])
                )
                futures.append(named.submit(home, run_id, config, panel_path, window_id))
        window_of = {f.task_run_id: w for f, w in zip(futures, window_ids, strict=True)}
        for done, future in enumerate(as_completed(futures), start=1):
            update_progress_artifact(progress, 100.0 * done / len(futures))
            if future.state.is_completed():
                logger.info(WINDOW_DONE, window_of[future.task_run_id], done, len(futures))
        results = [f.result() for f in futures]
    except BaseException as error:
        _stop_windows(futures)
        fail_task(home, run_id, outputs.failure_reason(error))
        raise
    create_markdown_artifact(windows_markdown(run_id, results), key=WINDOWS_KEY)
    return run_id, window_ids, results
