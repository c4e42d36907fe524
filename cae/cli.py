"""The `cae` command. Each subcommand is a thin shell over a library function.

A `CaeError` is printed as one line and exits with status 1; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cae.errors import CaeError

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

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="cae home directory (default: $CAE_HOME or ./data)."),
]


@app.callback()
def _root() -> None:
    """Conditional autoencoder factor models over a DuckDB warehouse, run as Prefect flows."""


@app.command()
def version() -> None:
    """Print the installed cae version."""
    from cae import __version__

    console.print(__version__)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    try:
        app(args=argv, prog_name="cae")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 1
    except CaeError as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        return 1
    return 0


# --- outputs: report (issue 5) ---
@app.command()
def report(
    run_id: Annotated[str, typer.Argument(help="The run to report on (see the runs table).")],
    home: HomeOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="HTML file to write (default: outputs/reports/RUN_ID.html)."),
    ] = None,
) -> None:
    """Write a self-contained HTML report of one run: its tables and plots."""
    from cae.report import write_report

    console.print(str(write_report(home, run_id, out)), highlight=False, soft_wrap=True)


# --- end outputs ---


if __name__ == "__main__":
    sys.exit(main())
