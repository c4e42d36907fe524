"""The panel commands of `cae`: actions, build-panel, ingest-panel, synth (registered on `app`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from cae.cli.app import HomeOption, app, console, parse_mapping, print_frame

__all__ = ["actions", "build_panel_command", "ingest_panel_command", "synth"]


def _publish(home: Path | None, con) -> None:
    from cae.warehouse import published

    # `cae sql` reads the warehouse's published version: publish what this command changed.
    published.publish(con, home)


@app.command()
def actions(
    home: HomeOption = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="Corporate-actions CSV (ticker,date,ratio); wins over detection."
        ),
    ] = None,
) -> None:
    """Detect splits and reverse splits, apply them, and list what was detected and applied."""
    from cae import warehouse
    from cae.warehouse.actions import detect_actions, list_aliases

    con = warehouse.connect(home)
    found = detect_actions(con, file)
    _publish(home, con)
    print_frame(list_aliases(con), "Stitched tickers")
    print_frame(found, f"Corporate actions ({found.filter('is_applied').height} applied)")


@app.command("build-panel")
def build_panel_command(
    home: HomeOption = None,
    freq: Annotated[
        list[str] | None,
        typer.Option(
            "--freq", help="daily, weekly or monthly (repeatable; default daily and weekly)."
        ),
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Rebuild from scratch.")] = False,
    min_price: Annotated[
        float | None, typer.Option("--min-price", help="Universe: minimum raw close (USD).")
    ] = None,
    min_history: Annotated[
        int | None, typer.Option("--min-history", help="Universe: minimum sessions traded.")
    ] = None,
    min_dollar_volume: Annotated[
        float | None,
        typer.Option("--min-dollar-volume", help="Universe: minimum mean daily dollar volume."),
    ] = None,
) -> None:
    """Build (incrementally) the characteristics panel at each frequency from the prices."""
    from cae import warehouse
    from cae.panel import build_panel
    from cae.panel.universe import UniverseConfig
    from cae.warehouse.actions import detect_actions

    given = {
        "min_price": min_price,
        "min_history": min_history,
        "min_dollar_volume": min_dollar_volume,
    }
    universe = dataclasses.replace(
        UniverseConfig(), **{k: v for k, v in given.items() if v is not None}
    )
    con = warehouse.connect(home)
    detect_actions(con)
    for one in freq or ["daily", "weekly"]:
        report = build_panel(con, one, full=full, universe=universe)
        kind = "full build" if report.is_full else f"incremental from {report.from_date}"
        if report.up_to_date:
            console.print(f"characteristics_{one}: up to date (nothing new since its last build)")
        else:
            console.print(
                f"characteristics_{one}: {report.n_rows:,} rows over {report.n_dates} dates "
                f"({kind})"
            )
        if report.moved_to is not None:
            console.print(
                f"your panel stored as characteristics_{one} moved to {report.moved_to}: "
                "a panel built from prices no longer replaces yours",
                soft_wrap=True,
            )
    _publish(home, con)


@app.command("ingest-panel")
def ingest_panel_command(
    file: Annotated[
        Path | None,
        typer.Argument(help="CSV or Parquet: date, ticker, ret, [ret_fwd], characteristics."),
    ] = None,
    home: HomeOption = None,
    freq: Annotated[
        str, typer.Option("--freq", help="Frequency of the panel: daily, weekly or monthly.")
    ] = "monthly",
    column_map: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="Rename a column of the file, FILE_COLUMN=COLUMN (repeatable), e.g. "
            "--map permno=ticker --map DATE=date --map RET=ret for GKX's datashare.",
        ),
    ] = None,
    restore: Annotated[
        bool,
        typer.Option(
            "--restore", help="Swap back the panel the last ingest-panel at --freq replaced."
        ),
    ] = False,
) -> None:
    """Load your own characteristics panel as characteristics_own_<freq>.

    `cae train --freq F` and `cae run --freq F` then train on it (raw characteristics are ranked
    per date like computed ones); the panel built from prices at F is kept apart and not rebuilt.
    A panel of yours it replaces is kept until the next replacement; `--restore` swaps it back.
    Dates are YYYY-MM-DD or YYYYMMDD.
    """
    from cae import warehouse
    from cae.errors import ConfigError
    from cae.panel import characteristic_names, ingest_panel, restore_panel
    from cae.panel.frequency import own_panel_key

    if restore == (file is not None):
        raise ConfigError("ingest-panel: give a FILE or --restore (with --freq), not both")
    columns = parse_mapping(column_map)
    if restore and columns:
        raise ConfigError("ingest-panel: --map goes with a FILE, not with --restore")
    con = warehouse.connect(home)
    table = f"characteristics_{own_panel_key(freq)}"
    if restore:
        meta, restored, swapped_out = restore_panel(con, freq)
        _publish(home, con)
        console.print(
            f"{table}: restored {restored} from {meta['source']} (loaded "
            f"{meta['built_at']:%Y-%m-%d %H:%M}); the panel it replaced ({swapped_out}) is "
            f"now kept as {table}_previous",
            soft_wrap=True,
        )
        return
    loaded, replaced = ingest_panel(con, file, freq, columns)
    _publish(home, con)
    names = characteristic_names(con, own_panel_key(freq))
    console.print(
        f"{table}: {loaded}, {len(names)} characteristics from {file}; `cae train --freq "
        f"{freq}` and `cae run --freq {freq}` train on it",
        soft_wrap=True,
    )
    if replaced is not None:
        console.print(
            f"replaced {replaced}, kept as {table}_previous until the next "
            f"replacement: `cae ingest-panel --restore --freq {freq}` brings it back",
            soft_wrap=True,
        )


@app.command()
def synth(
    home: HomeOption = None,
    tickers: Annotated[int, typer.Option("--tickers", help="Number of tickers.")] = 500,
    days: Annotated[int, typer.Option("--days", help="Number of business days.")] = 252,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
) -> None:
    """Write a synthetic market (fat tails, listings, delistings, gaps, splits) to the warehouse."""
    from cae import warehouse
    from cae.datasets.synth import SynthConfig, generate_market, write_market

    prices, meta = generate_market(SynthConfig(n_tickers=tickers, n_days=days, seed=seed))
    con = warehouse.connect(home)
    written = write_market(con, prices, meta)
    _publish(home, con)
    console.print(
        f"synthetic market: {written:,} price rows for {tickers} tickers over {days} days"
    )
