"""The `cae` Typer app and what its command modules share: options, consoles, tables, progress."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cae.errors import ConfigError, HomeError
from cae.home import Home

__all__ = [
    "HomeOption",
    "app",
    "console",
    "err_console",
    "open_warehouse",
    "parse_mapping",
    "print_frame",
    "progress_bar",
]

# Floats on screen: 6 significant digits (0.554839) tell R2s and returns apart; the exact
# values are a `--format csv` away.
FLOAT_DIGITS = 6
UNBOUNDED_WIDTH = 10_000  # characters: measures a table's natural width, whatever the screen

app = typer.Typer(
    name="cae",
    help="Conditional autoencoder factor models over a DuckDB warehouse, run as Prefect flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def _opened_home(home: Path | None) -> Home:
    """Build the command's `Home` once (--home, else $CAE_HOME, else ./data); create and tidy it.

    The command receives this `Home` in place of the path. Refuses a --home that looks like an
    option (`--home --help` must not create `--help/`).
    Tidying marks runs whose process died (kill -9) failed with "process gone" and removes the
    scratch files of dead writers; a read-only or full home is left as it is (reading it works).
    """
    from cae import warehouse
    from cae.runs import outputs

    if home is not None and str(home).startswith("-"):
        raise typer.BadParameter(f"{str(home)!r} looks like an option, not a folder")
    opened = Home.of(home)
    try:
        opened.root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise HomeError(f"cannot create the home folder {opened.root}: {error.strerror}") from None
    try:
        outputs.mark_abandoned_runs(opened)
    except OSError as error:
        if warehouse.home_error(error) is None:
            raise
    return opened


HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home", help="cae home directory (default: $CAE_HOME or ./data).", callback=_opened_home
    ),
]


@app.callback()
def _root() -> None:
    """Conditional autoencoder factor models over a DuckDB warehouse, run as Prefect flows."""


@app.command()
def version() -> None:
    """Print the installed cae version."""
    from cae import __version__

    console.print(__version__)


def open_warehouse(home: Path | None, *, read_only: bool = False):
    """Open the warehouse; read-only when asked and the file exists (a new home gets one)."""
    from cae import warehouse

    read_only = read_only and Home.of(home).warehouse.exists()
    return warehouse.connect(home, read_only=read_only)


def print_frame(frame, title: str | None = None, right: Sequence[str] = (), null: str = "") -> None:
    """Print a Polars frame as a plain table: numbers and the `right` columns right-aligned.

    Values print as text, floats rounded to `FLOAT_DIGITS` significant digits, nulls as `null`.
    No value is ever cut (`0.55484...`): a table wider than the screen prints at its own width.
    """
    from rich import box
    from rich.measure import Measurement
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
    )
    for name in frame.columns:
        numeric = frame[name].dtype.is_numeric() or name in right
        table.add_column(name, justify="right" if numeric else "left", no_wrap=True)
    for row in frame.iter_rows():
        # Text, not markup: a value such as "[low, high]" must print as it is.
        table.add_row(*(Text(_cell(v, null)) for v in row))
    unbounded = console.options.update_width(UNBOUNDED_WIDTH)
    width = Measurement.get(console, unbounded, table).maximum
    screen = console.width
    console.width = max(width, screen)  # rich cuts a table at the console's width
    try:
        console.print(table)
    finally:
        console.width = screen


def _cell(value: object, null: str) -> str:
    import numpy as np

    if value is None:
        return null
    if isinstance(value, float):
        # Positional, never 1.5e+09: a column of market caps stays readable.
        return np.format_float_positional(value, precision=FLOAT_DIGITS, fractional=False, trim="0")
    return str(value)


def parse_mapping(pairs: list[str] | None) -> dict[str, str]:
    """Turn repeated `--map SOURCE=COLUMN` options into a dict."""
    mapping = {}
    for pair in pairs or []:
        source, sep, target = pair.partition("=")
        if not sep or not source or not target:
            raise ConfigError(f"--map {pair!r}: expected SOURCE=COLUMN, e.g. --map Symbol=ticker")
        mapping[source] = target
    return mapping


def progress_bar(redirect: bool = True):
    """Return a progress bar on stderr that shows only on a terminal and leaves no trace.

    `redirect` sends what is printed to stdout and stderr meanwhile above the bar; off, a library
    imported meanwhile cannot keep the bar's stand-in for stdout after it is gone.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
        redirect_stdout=redirect,
        redirect_stderr=redirect,
    )
