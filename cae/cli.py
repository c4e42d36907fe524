"""The `cae` command. Each subcommand is a thin shell over a library function.

A `CaeError` is printed as one line and exits with status 1; so is an OS error that describes the
machine (a full or read-only disk). SIGINT (Ctrl-C) and SIGTERM stop the command through
`Interrupted`: cleanup runs (a transaction rolls back, a run is marked failed, Prefect's temporary
server stops), then one line and the shell's status for the signal (130, 143). Anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from cae.errors import CaeError, ConfigError, HomeError, Interrupted

__all__ = ["app", "main"]

app = typer.Typer(
    name="cae",
    help="Conditional autoencoder factor models over a DuckDB warehouse, run as Prefect flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


# Signals that stop a command cleanly; the exit status is 128 + the signal's number (shells).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _opened_home(home: Path | None) -> Path | None:
    """Check, create and tidy the home folder before any command uses it.

    Refuses a --home that looks like an option (`--home --help` must not create `--help/`).
    Tidying marks runs whose process died (kill -9) failed with "process gone" and removes the
    scratch files of dead writers; a read-only or full home is left as it is (reading it works).
    """
    from cae import outputs, warehouse

    if home is not None and str(home).startswith("-"):
        raise typer.BadParameter(f"{str(home)!r} looks like an option, not a folder")
    folder = warehouse.home_dir(home)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise HomeError(f"cannot create the home folder {folder}: {error.strerror}") from None
    try:
        outputs.mark_abandoned_runs(folder)
    except OSError as error:
        if warehouse.home_error(error) is None:
            raise
    return home


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


# --- ingest, status, sql --------------------------------------------------------------------

# Rows of a query result shown as a table; more go to a file with --format/--output.
SQL_MAX_ROWS_SHOWN = 50


def _open_warehouse(home: Path | None, *, read_only: bool = False):
    from cae import warehouse

    read_only = read_only and warehouse.warehouse_path(home).exists()
    return warehouse.connect(home, read_only=read_only)


def _print_frame(frame, title: str | None = None) -> None:
    from rich import box
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
        table.add_column(name, justify="right" if frame[name].dtype.is_numeric() else "left")
    for row in frame.iter_rows():
        # Text, not markup: a value such as "[low, high]" must print as it is.
        table.add_row(*(Text("" if v is None else str(v)) for v in row))
    console.print(table)


def _parse_mapping(pairs: list[str] | None) -> dict[str, str]:
    mapping = {}
    for pair in pairs or []:
        source, sep, target = pair.partition("=")
        if not sep or not source or not target:
            raise ConfigError(f"--map {pair!r}: expected SOURCE=COLUMN, e.g. --map Symbol=ticker")
        mapping[source] = target
    return mapping


def _print_reports(reports) -> None:
    import polars as pl

    if not reports:
        console.print("nothing to ingest: no new or changed files")
        return
    _print_frame(pl.DataFrame(reports).drop("source"), title="ingested")
    new = sum(r.rows_new for r in reports)
    changed = sum(r.rows_changed for r in reports)
    rejected = sum(r.rows_rejected for r in reports)
    console.print(f"{new} new rows, {changed} changed, {rejected} rejected")
    if rejected:
        first = next(r.batch_id for r in reports if r.rows_rejected)
        console.print(
            f'see why: cae sql "select * from rejected_rows where batch_id = {first}"',
            highlight=False,
        )


def _progress():
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
    )


def _count_files(sources: list[str], dropdir: Path | None) -> int | None:
    from cae.ingest import NAMED_SOURCES, YFINANCE_PREFIX
    from cae.sources import files

    if dropdir is not None:
        return None
    named = [s for s in sources if s in NAMED_SOURCES or s.startswith(YFINANCE_PREFIX)]
    paths = [s for s in sources if s not in named]
    return len(named) + (len(files.expand_paths(paths)) if paths else 0)


def _ingest(home: Path | None, sources: list[str], dropdir: Path | None, options) -> list:
    from cae import catalog
    from cae import ingest as ingest_lib

    total = _count_files(sources, dropdir)  # also fails early on a missing path
    con = _open_warehouse(home)
    try:
        with _progress() as progress:
            task = progress.add_task("ingesting", total=total)
            started = []

            def on_file(name: str) -> None:
                progress.update(task, description=f"ingesting {name}", completed=len(started))
                started.append(name)

            if dropdir is not None:
                reports = ingest_lib.ingest_dropdir(con, dropdir, options=options, on_file=on_file)
            else:
                reports = ingest_lib.ingest_source(con, sources, options=options, on_file=on_file)
        catalog.snapshot_warehouse(home, con)
        return reports
    finally:
        con.close()


@app.command()
def ingest(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help="sample (default) | sp500-long | yfinance:T1,T2 | CSV/Parquet paths or globs.",
            show_default=False,
        ),
    ] = None,
    dropdir: Annotated[
        Path | None,
        typer.Option(help="Ingest every new or changed file in this landing folder once."),
    ] = None,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="Rename a file column: SOURCE=COLUMN (repeatable)."),
    ] = None,
    date_format: Annotated[
        str | None,
        typer.Option(help="strptime format of dates, e.g. %d/%m/%Y (default: inferred)."),
    ] = None,
    layout: Annotated[
        str, typer.Option(help="long | wide | auto (long if a ticker column exists).")
    ] = "auto",
    home: HomeOption = None,
) -> None:
    """Load prices into the warehouse; re-ingesting the same data changes nothing."""
    from cae.sources.files import FileOptions

    if layout not in ("auto", "long", "wide"):
        raise ConfigError(f"--layout {layout!r}: expected long, wide or auto")
    if dropdir is not None and sources:
        raise ConfigError("give either sources or --dropdir, not both")
    options = FileOptions(columns=_parse_mapping(map_), date_format=date_format, layout=layout)
    _print_reports(_ingest(home, sources or ["sample"], dropdir, options))


def _print_status(home: Path | None) -> None:
    from cae import ingest as ingest_lib
    from cae import warehouse

    con = _open_warehouse(home, read_only=True)
    try:
        status = ingest_lib.warehouse_status(con)
    finally:
        con.close()
    path = warehouse.warehouse_path(home)
    console.print(f"warehouse {path}", highlight=False, markup=False)
    _print_frame(status["prices"], title="prices")
    _print_frame(status["batches"], title="last batches")
    if status["rejects"].height:
        _print_frame(status["rejects"], title="rejected rows by rule")
    else:
        console.print("no rejected rows")


@app.command()
def status(home: HomeOption = None) -> None:
    """Show what the warehouse holds: rows, tickers, date range, last batches, rejects."""
    _print_status(home)


@app.command()
def sql(
    query: Annotated[
        str, typer.Argument(help='A DuckDB query, e.g. "select count(*) from prices".')
    ],
    format_: Annotated[
        str | None,
        typer.Option("--format", help="csv | json | parquet (default: a table on screen)."),
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Write the result to this file.")] = None,
    live: Annotated[
        bool, typer.Option(help="Read the live warehouse instead of its snapshot (may be locked).")
    ] = False,
    home: HomeOption = None,
) -> None:
    """Query the outputs and the warehouse together (read-only) and print or save the result.

    Reads go through the catalog (`cae.catalog`): output views plus a snapshot of the warehouse,
    so a query never blocks, or is blocked by, a running ingest or flow.
    """
    from cae import catalog

    if format_ not in (None, "csv", "json", "parquet"):
        raise ConfigError(f"--format {format_!r}: expected csv, json or parquet")
    if format_ == "parquet" and output is None:
        raise ConfigError("--format parquet needs --output FILE")
    frame = catalog.query(home, query, warehouse="live" if live else "snapshot")
    if frame.width == 0:
        console.print("ok")
        return
    fmt = format_
    if fmt is None and output is not None:
        fmt = {".json": "json", ".parquet": "parquet"}.get(output.suffix.lower(), "csv")
    if output is not None:
        writers = {"csv": frame.write_csv, "json": frame.write_json, "parquet": frame.write_parquet}
        writers[fmt](output)
        console.print(f"wrote {frame.height} rows to {output}", highlight=False, markup=False)
    elif fmt == "csv":
        sys.stdout.write(frame.write_csv())
    elif fmt == "json":
        sys.stdout.write(frame.write_json() + "\n")
    elif frame.shape == (1, 1):
        # A single value prints bare, so scripts can use it: cae sql "select count(*) ..."
        console.print(str(frame.item()), highlight=False, markup=False)
    else:
        _print_frame(frame.head(SQL_MAX_ROWS_SHOWN))
        if frame.height > SQL_MAX_ROWS_SHOWN:
            console.print(
                f"... {frame.height - SQL_MAX_ROWS_SHOWN} more rows; "
                "use --format csv --output FILE for all"
            )


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


# Command groups in modules of their own register on `app` when imported.
from cae import cli_panel, cli_pipeline  # noqa: E402, F401

if __name__ == "__main__":
    # `python -m cae.cli` runs this file as __main__; the command groups registered on the
    # imported `cae.cli.app`, so run that one.
    from cae.cli import main as imported_main

    sys.exit(imported_main())
