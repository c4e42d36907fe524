"""The `cae` command. Each subcommand is a thin shell over a library function.

A `CaeError` is printed as one line and exits with status 1; so is an OS error that describes the
machine (a full or read-only disk). SIGINT (Ctrl-C) and SIGTERM stop the command through
`Interrupted`: cleanup runs (a transaction rolls back, a run is marked failed, Prefect's temporary
server stops), then one line and the shell's status for the signal (130, 143). Anything else is a
bug and keeps its traceback.

The commands live in one module per group (`warehouse`, `panel`, `pipeline`) and register on the
one Typer app of `cae.cli.app` when imported here.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rich.markup import escape

# isort: off
# Each module registers its commands; `cae --help` lists them in this order, the data's path.
from cae.cli import warehouse, panel, pipeline  # noqa: F401

# isort: on
from cae.cli.app import app, err_console
from cae.errors import CaeError, Interrupted

__all__ = ["app", "main"]

# Signals that stop a command cleanly; the exit status is 128 + the signal's number (shells).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    received: list[int] = []
    try:
        with _stop_signals_interrupt(received):
            app(args=argv, prog_name="cae")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 1
    except CaeError as error:
        _print_error(str(error))
        return 1
    except OSError as error:
        from cae import warehouse

        translated = warehouse.home_error(error)
        if translated is None:
            raise
        _print_error(str(translated))
        return 1
    except Interrupted as stop:
        return _stopped(stop.signal)
    except RuntimeError as error:
        from cae import warehouse

        if not warehouse.is_interrupted_query(error):
            raise
        # Only SIGTERM reaches Prefect's handler instead of ours (inside a flow).
        return _stopped(received[-1] if received else signal.SIGTERM)
    return 0


def _stopped(number: int) -> int:
    _print_error(
        f"interrupted by {signal.Signals(number).name}: stopped; the warehouse keeps its last "
        "committed state and a run in progress is marked failed"
    )
    return 128 + number


def _print_error(message: str) -> None:
    message = escape(message)  # a file name or value may contain [brackets]
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)


@contextmanager
def _stop_signals_interrupt(received: list[int]) -> Iterator[None]:
    """Raise `Interrupted` in the main thread on SIGINT and SIGTERM while the block runs.

    Without it SIGTERM kills the process at once: no cleanup, a run left `running`, and Prefect's
    temporary server (a child process stopped at exit) orphaned. Python's own SIGINT handling
    raises KeyboardInterrupt, which click turns into "Aborted!" with status 1. Each signal is
    also appended to `received`: when it stops a DuckDB query, DuckDB raises its own error.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (a test calling main in a thread)
        return

    def raise_interrupted(number: int, frame: object) -> None:
        received.append(number)
        raise Interrupted(number)

    previous = {number: signal.signal(number, raise_interrupted) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
