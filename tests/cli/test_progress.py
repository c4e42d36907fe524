import io
import logging

from rich.console import Console
from rich.progress import Progress

from cae.cli.progress import TrainingProgress
from flows.train import MODEL_DONE, PLANNED, WINDOW_DONE


def _record(msg, *args):
    return logging.LogRecord("prefect.task_runs", logging.INFO, __file__, 1, msg, args, None)


def _progress():
    return Progress(console=Console(file=io.StringIO(), force_terminal=True), auto_refresh=False)


def test_the_bar_counts_each_window_and_model_once():
    progress = _progress()
    handler = TrainingProgress(progress, ["CA0", "pca"])
    task = progress.tasks[handler.task]
    assert (task.total, task.description) == (None, "ingest and panel")
    handler.handle(_record(PLANNED, 3, 2))
    assert (task.total, task.completed, task.description) == (6, 0, "training")
    handler.handle(_record(MODEL_DONE, 0, "CA0", 1, 2))
    handler.handle(_record(MODEL_DONE, 0, "CA0", 1, 2))  # a retried window logs it again
    handler.handle(_record("window %d: %s done", 1, "pca"))  # not one of the flow's lines
    assert (task.total, task.completed, task.description) == (6, 1, "window 0: CA0")
    # A window trained in another process: only its end reaches this process.
    handler.handle(_record(WINDOW_DONE, 2, 1, 3))
    handler.handle(_record(MODEL_DONE, 0, "pca", 2, 2))
    assert task.completed == 4
