"""Replay the end of the bundled sample as daily drop files, one trading day at a time.

`prepare_replay` writes every session but the last `days` as one base file in a landing folder
and each of the last `days` sessions as its own file in a waiting folder; `release_day` moves
one day's file into the landing folder, where the next daily run ingests it. Each run then adds
one day of prices, characteristics, betas and factors; windows whose data did not change come
from cache, and a new window is fitted when the new day crosses a refit boundary.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from cae import warehouse
from cae.errors import ConfigError
from cae.home import Home, HomeLike
from cae.warehouse.ingest import ingest_sample_tickers, warehouse_status
from cae.warehouse.sources.sample import read_sample_prices

__all__ = ["landing_dir", "prepare_replay", "release_day"]

BASE_FILE = "0000-base.csv"  # sorts before every day file


def landing_dir(home: HomeLike) -> Path:
    """Return the landing folder the daily flow ingests during a replay."""
    return Home.of(home).landing


def prepare_replay(home: HomeLike, days: int) -> list[Path]:
    """Write the base file and one waiting file per replayed day; return the day files in order.

    Raises `ConfigError` if `days` leaves no history, or if the warehouse already holds any of
    the replayed sessions (a replay needs a home that has not seen them: use a fresh `--home`).
    """
    prices = read_sample_prices()
    dates = prices["date"].unique().sort()
    if not 1 <= days < len(dates) - 1:
        raise ConfigError(f"replay days must be in 1..{len(dates) - 2}, not {days}")
    first_replayed = dates[-days]
    with warehouse.connect(home) as con:
        last = warehouse_status(con.cursor())["prices"]["last_date"][0]
        if last is not None and last >= first_replayed:
            raise ConfigError(
                f"{Home.of(home).warehouse} already holds prices up to {last}; replaying "
                f"from {first_replayed} needs a home without them (use a fresh --home)"
            )
        ingest_sample_tickers(con)
    _write_settled(prices.filter(pl.col("date") < first_replayed), landing_dir(home) / BASE_FILE)
    waiting = []
    for day in dates[-days:]:
        path = Home.of(home).waiting / f"{day}.csv"
        _write_settled(prices.filter(pl.col("date") == day), path)
        waiting.append(path)
    return waiting


def release_day(home: HomeLike, day_file: Path) -> Path:
    """Move one waiting day file into the landing folder; return its new path."""
    target = landing_dir(home) / day_file.name
    os.replace(day_file, target)
    return target


def _write_settled(frame: pl.DataFrame, path: Path) -> None:
    # Written under a temporary name and dated in the past, so the drop folder takes it at once.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.write_csv(tmp)
    os.utime(tmp, (0, 0))
    os.replace(tmp, path)
