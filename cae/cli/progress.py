"""The progress bar of `cae run`: windows x models, advanced by the train flow's log lines.

The flows run inside Prefect, so the bar follows what they log (`flows.train.PLANNED`,
`MODEL_DONE`, `WINDOW_DONE`) instead of a callback: with the default thread runner every
model's line arrives here; with other runners a window's models count when the window ends.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from cae.cli.app import progress_bar

__all__ = ["TrainingProgress", "training_progress"]


class TrainingProgress(logging.Handler):
    """A logging handler that advances one progress task on the train flow's lines."""

    def __init__(self, progress: Any, models: Sequence[str]) -> None:
        from flows.train import MODEL_DONE, PLANNED, WINDOW_DONE

        super().__init__()
        self._lines = {PLANNED: self._planned, MODEL_DONE: self._model, WINDOW_DONE: self._window}
        self.progress = progress
        self.models = tuple(models)
        self.done: set[tuple[int, str]] = set()  # (window, model): a model counts once
        self.task = progress.add_task("ingest and panel", total=None)  # until training starts

    def emit(self, record: logging.LogRecord) -> None:
        """Advance the bar if `record` is one of the train flow's progress lines."""
        follow = self._lines.get(record.msg) if isinstance(record.msg, str) else None
        if follow is not None:
            follow(*record.args)

    def _planned(self, n_windows: int, n_models: int) -> None:
        self.progress.update(self.task, total=n_windows * n_models, description="training")

    def _model(self, window_id: int, model: str, *_: int) -> None:
        self.done.add((window_id, model))
        self._show(f"window {window_id}: {model}")

    def _window(self, window_id: int, *_: int) -> None:
        self.done.update((window_id, model) for model in self.models)
        self._show(f"window {window_id} done")

    def _show(self, description: str) -> None:
        self.progress.update(self.task, completed=len(self.done), description=description)


@contextmanager
def training_progress(models: Sequence[str]) -> Iterator[TrainingProgress]:
    """Show the bar while the block runs; Prefect's log lines print above it meanwhile."""
    # Training imports libraries (numba, ...) that keep a reference to sys.stdout.
    with progress_bar(redirect=False) as progress:
        handler = TrainingProgress(progress, models)
        prefect_logger = logging.getLogger("prefect")
        prefect_logger.addHandler(handler)
        # Prefect's console handler writes to the stderr it saw at start-up, under the bar;
        # through the bar's console its lines print above the bar instead.
        consoles = _console_handlers()
        saved = [h.console for h in consoles]
        if progress.live.is_started:
            for h in consoles:
                h.console = progress.console
        try:
            yield handler
        finally:
            prefect_logger.removeHandler(handler)
            for h, console in zip(consoles, saved, strict=True):
                h.console = console


def _console_handlers() -> list[Any]:
    from prefect.logging.handlers import PrefectConsoleHandler

    return [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]
