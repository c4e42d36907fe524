"""The warehouse commands of `cae`: ingest, status, sql."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cae.cli.app import (
    HomeOption,
    app,
    console,
    open_warehouse,
    parse_mapping,
    print_frame,
    progress_bar,
)
from cae.errors import ConfigError
from cae.home import Home

__all__ = ["ingest", "sql", "status"]

# Rows of a query result shown as a table; more go to a file with --format/--output.
SQL_MAX_ROWS_SHOWN = 50


def _print_reports(reports) -> None:
    import polars as pl

    if not reports:
        console.print("nothing to ingest: no new or changed files")
        return
    print_frame(pl.DataFrame(reports).drop("source"), title="ingested")
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


def _count_files(sources: list[str], dropdir: Path | None) -> int | None:
    from cae.warehouse.ingest import NAMED_SOURCES, YFINANCE_PREFIX
    from cae.warehouse.sources import files

    if dropdir is not None:
        return None
    named = [s for s in sources if s in NAMED_SOURCES or s.startswith(YFINANCE_PREFIX)]
    paths = [s for s in sources if s not in named]
    return len(named) + (len(files.expand_paths(paths)) if paths else 0)


def _ingest(home: Path | None, sources: list[str], dropdir: Path | None, options) -> list:
    from cae.errors import CaeError
    from cae.warehouse import ingest as ingest_lib
    from cae.warehouse import published

    total = _count_files(sources, dropdir)  # also fails early on a missing path
    con = open_warehouse(home)
    try:
        with progress_bar() as progress:
            task = progress.add_task("ingesting", total=total)
            started = []

            def on_file(name: str) -> None:
                progress.update(task, description=f"ingesting {name}", completed=len(started))
                started.append(name)

            try:
                if dropdir is not None:
                    reports = ingest_lib.ingest_dropdir(
                        con, dropdir, options=options, on_file=on_file
                    )
                else:
                    reports = ingest_lib.ingest_source(
                        con, sources, options=options, on_file=on_file
                    )
            except CaeError:
                published.publish(con, home)  # the files loaded before the one that failed
                raise
        published.publish(con, home)
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
    keep_ticker_case: Annotated[
        bool,
        typer.Option(
            "--keep-ticker-case",
            help="Keep tickers' letter case (default: upper-case them, so zza is ZZA).",
        ),
    ] = False,
    home: HomeOption = None,
) -> None:
    """Load prices into the warehouse; re-ingesting the same data changes nothing."""
    from cae.warehouse.sources.files import FileOptions

    if layout not in ("auto", "long", "wide"):
        raise ConfigError(f"--layout {layout!r}: expected long, wide or auto")
    if dropdir is not None and sources:
        raise ConfigError("give either sources or --dropdir, not both")
    options = FileOptions(
        columns=parse_mapping(map_),
        date_format=date_format,
        layout=layout,
        keep_ticker_case=keep_ticker_case,
    )
    _print_reports(_ingest(home, sources or ["sample"], dropdir, options))


def _print_status(home: Path | None) -> None:
    from cae.runs import catalog
    from cae.warehouse import ingest as ingest_lib
    from cae.warehouse import published, query_frame

    path = Home.of(home).warehouse
    if not path.exists():
        with open_warehouse(home) as con:  # a new home gets its (empty) warehouse
            published.publish(con, home)
    # What readers see: the published version (a home from before publishing gets it now).
    con = catalog.connect(home)
    manifest = published.read_manifest(home)
    if manifest is None:  # never published, and a writer holds it or the home is read-only
        con.close()
        con = open_warehouse(home, read_only=True)
    with con:
        status = ingest_lib.warehouse_status(con)
        panels = query_frame(con, "status_panels")
    console.print(f"warehouse {path}", highlight=False, markup=False)
    if manifest is not None:
        console.print(
            f"showing published version {manifest.version} ({manifest.published_at})"
            f"{_unpublished(home, manifest)}",
            highlight=False,
            markup=False,
        )
    print_frame(status["prices"], title="prices")
    print_frame(status["batches"], title="last batches")
    if status["rejects"].height:
        print_frame(status["rejects"], title="rejected rows by rule")
    else:
        console.print("no rejected rows")
    if panels.height:
        print_frame(panels, title="panels")
    _print_last_run(home)


def _unpublished(home: Path | None, manifest) -> str:
    """Say whether the warehouse committed more than `manifest` shows (checks it is intact)."""
    from cae import warehouse
    from cae.warehouse import published

    try:
        con = warehouse.connect(home, read_only=True)
    except ConfigError:
        return "; a command is writing the warehouse now and publishes when it is done"
    with con:
        pending = published.unpublished(con, manifest)
    if not pending:
        return "; nothing committed since"
    return (
        f"; {pending} committed by a command that stopped before publishing them: the next "
        "cae command that writes (ingest, build-panel, run) publishes them"
    )


def _print_version(home: Path | None) -> None:
    from cae.warehouse import published

    manifest = published.read_manifest(home)
    if manifest is not None:
        console.print(
            f"warehouse tables as published in version {manifest.version} "
            f"({manifest.published_at})",
            style="dim",
            highlight=False,
        )


def _print_last_run(home: Path | None) -> None:
    """Say which panel the latest run trained on: a user's panel and a built one may coexist."""
    from cae.panel.frequency import run_panel_key
    from cae.runs import outputs

    runs = outputs.read_table(home, "runs")
    if runs.is_empty():
        return
    run = runs.sort("created_at").row(-1, named=True)
    key = run_panel_key(run["config_json"])
    console.print(
        f"last run {run['run_id']} ({run['status']}) trained on characteristics_{key}",
        highlight=False,
        soft_wrap=True,
    )


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
        bool,
        typer.Option(
            help="Read the live warehouse instead of its published version (may be locked)."
        ),
    ] = False,
    home: HomeOption = None,
) -> None:
    """Query the outputs and the warehouse together (read-only) and print or save the result.

    Reads go through the catalog (`cae.runs.catalog`): output views plus the warehouse's last
    published version, so a query never blocks, or is blocked by, a running ingest or flow.
    """
    from cae.runs import catalog

    if format_ not in (None, "csv", "json", "parquet"):
        raise ConfigError(f"--format {format_!r}: expected csv, json or parquet")
    if format_ == "parquet" and output is None:
        raise ConfigError("--format parquet needs --output FILE")
    frame = catalog.query(home, query, warehouse="live" if live else "published")
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
        value = frame.item()
        console.print("null" if value is None else str(value), highlight=False, markup=False)
    else:
        print_frame(frame.head(SQL_MAX_ROWS_SHOWN), null="null")
        if frame.height > SQL_MAX_ROWS_SHOWN:
            console.print(
                f"... {frame.height - SQL_MAX_ROWS_SHOWN} more rows; "
                "use --format csv --output FILE for all"
            )
        if not live:
            _print_version(home)
