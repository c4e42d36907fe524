"""The characteristics panel: built from prices, stored raw, read normalised.

One table per frequency, `characteristics_<freq>` (daily, weekly, monthly), one row per date and
ticker with `ret`, `ret_fwd`, `is_in_universe` and one column per characteristic. The columns
follow the registry (or the user's file for `ingest_panel`), so cae creates these tables rather
than a migration. Normalisation happens when the panel is read (Gu, Kelly & Xiu 2019, sec. 2.1):
per date, ranks over the tickers where a characteristic is known, mapped into [-1, 1].
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import polars as pl

from cae.errors import ValidationError
from cae.panel import features, store
from cae.panel import proxy_sources as panel_sources
from cae.panel.features import REGISTRY
from cae.panel.frequency import OWN_PREFIX, check_freq, to_frequency
from cae.panel.ingest import adopt_user_panel, ingest_panel, restore_panel
from cae.panel.store import characteristic_names, validate_panel
from cae.panel.universe import UniverseConfig, flag_universe, universe_counts
from cae.warehouse import (
    data_version,
    lookback_floor,
    published,
    query_frame,
    run_sql,
    transaction,
)
from cae.warehouse.actions import detect_actions
from cae.warehouse.schemas import PANEL_KEY_COLUMNS

__all__ = [
    "BuildReport",
    "build_panel",
    "characteristic_names",
    "ingest_panel",
    "normalise_ranks",
    "read_panel",
    "refresh_panels",
    "restore_panel",
    "validate_panel",
]

# Calendar days before the recompute date whose sessions are re-read: a whole month, so the
# compounded return of the first recomputed period sees all of its sessions.
PERIOD_SLACK_DAYS = 35
COMPUTED_SOURCE = "computed"
# Tickers whose daily windows are computed together: ~0.6M daily rows for 10 years, which
# bounds the build's memory to about one chunk's intermediates plus the finished panel.
TICKERS_PER_CHUNK = 250
# Calendar days read per session of look-back before the first date an incremental build
# recomputes: 252 sessions span about 365 days, and 25% more leaves room for a ticker's own
# gaps (longer ones make the build read all history).
FLOOR_DAYS_PER_SESSION = 1.25 * 365 / 252
# DuckDB's share of memory while a build writes its tables (it spills beyond it): with the
# Polars chunks this keeps 3,000 tickers x 10 years under 4 GB (docs/benchmarks.md).
BUILD_DUCKDB_MEMORY = "1GB"


@dataclass(frozen=True)
class BuildReport:
    """What one `build_panel` call did."""

    freq: str
    from_date: dt.date | None
    n_rows: int
    n_dates: int
    is_full: bool
    n_sessions_read: int = 0  # daily rows read from the warehouse (lookback included)
    # Where a user's panel stored at characteristics_<freq> (before own tables) was moved.
    moved_to: str | None = None
    # Nothing read since the last build changed (`panel_state`): the panel was left as it was.
    up_to_date: bool = False


def _recompute_from(
    con, freq: str, names: Sequence[str], universe: UniverseConfig, full: bool
) -> tuple[dt.date | None, str | None]:
    """Return the first period date to recompute (None for a full build) and a moved panel.

    A full build is forced when the stored panel was made differently: other characteristics,
    other universe filters, a user's file, or before shares outstanding fed turn and mvel1.
    A user's panel stored here before own tables is never dropped: it moves to
    `characteristics_own_<freq>` (`adopt_user_panel`); the table it went to is returned, else
    None.
    """
    if not store.table_exists(con, freq):
        return None, None
    moved_to = adopt_user_panel(con, freq)
    if moved_to is not None:
        return None, moved_to
    meta = store.read_meta(con, freq)
    changed = meta is None or (
        meta["source"] != COMPUTED_SOURCE
        or json.loads(meta["char_names"]) != list(names)
        or meta["universe_config"] != store.universe_json(universe)
        # Built before migration 0003: turn, std_turn and mvel1 ignored shares outstanding.
        or meta["std_turn_source"] is None
    )
    if full or changed:
        store.execute(con, "characteristics#drop", freq)
        return None, None
    recent = store.query(con, "characteristics#recent_dates", freq)["date"].to_list()
    return (recent[-1] if recent else None), None


@contextmanager
def _duckdb_memory(con: duckdb.DuckDBPyConnection, limit: str) -> Iterator[None]:
    previous = query_frame(con, "settings#memory_limit_read")["memory_limit"][0]
    run_sql(con, "settings#memory_limit_set", {"limit": limit})
    try:
        yield
    finally:
        run_sql(con, "settings#memory_limit_set", {"limit": previous})


def _ticker_chunks(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str | None]]:
    tickers = query_frame(con, "prices#stitched_tickers")["ticker"].to_list()
    starts = tickers[::TICKERS_PER_CHUNK]
    return list(zip(starts, [*starts[1:], None], strict=True))


def _read_inputs(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Return what a build reads besides its own table: the data version and other inputs."""
    with con.cursor() as cursor:  # `data_version` fetches one row and leaves its result open
        version = data_version(cursor)
    inputs = run_sql(con, "panel/panel_meta#inputs").fetchall()[0][0]
    return {"data_version": version, "inputs": inputs}


def _returns_floor(
    con: duckdb.DuckDBPyConnection, from_date: dt.date, lookback: int
) -> dt.date | None:
    """Return the first date an incremental build must read returns from, None for all history."""
    days = math.ceil(FLOOR_DAYS_PER_SESSION * lookback)
    return lookback_floor(con, from_date, sessions=lookback, days=days)


def _stage_zero_to_staging(
    con: duckdb.DuckDBPyConnection,
    freq: str,
    start: dt.date,
    names: Sequence[str],
    universe: UniverseConfig,
    *,
    is_full: bool,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, int]:
    """Write the per-ticker characteristics from `start` on to the staging table, by chunk.

    Tickers are processed in chunks so memory holds one chunk's daily windows at a time; each
    chunk reads only the sessions its windows need before `start`, and an incremental build
    reads returns from a floor date on (`_returns_floor`), not from the first price. Returns
    the narrow columns the cross-sectional characteristics need, the per-date universe counts,
    the per-date counts of shares-based and proxy values (`cae.panel.proxy_sources`) and the
    number of daily rows read.
    """
    stage_zero = features.stage_names(0, names)
    inputs = sorted({c for n in features.stage_names(1, names) for c in REGISTRY[n].inputs})
    params = {
        "from_date": start - dt.timedelta(days=PERIOD_SLACK_DAYS),
        "lookback": features.lookback_sessions(names),
    }
    floor = None if is_full else _returns_floor(con, params["from_date"], params["lookback"])
    if floor is not None:  # daily_returns starts there (migration 6); build_panel resets it
        run_sql(con, "settings#returns_floor_set", {"floor": floor})
    return _stage_chunks(con, freq, start, stage_zero, inputs, params, universe)


def _stage_chunks(
    con: duckdb.DuckDBPyConnection,
    freq: str,
    start: dt.date,
    stage_zero: Sequence[str],
    inputs: Sequence[str],
    params: dict,
    universe: UniverseConfig,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, int]:
    market = query_frame(con, "market_returns")
    narrow, counts, sources, n_read = [], [], [], 0
    flags = panel_sources.flag_names(stage_zero)
    store.execute(con, "characteristics#staging_drop", freq)
    for number, (ticker_from, ticker_to) in enumerate(_ticker_chunks(con)):
        base = query_frame(
            con, "daily_base", {**params, "ticker_from": ticker_from, "ticker_to": ticker_to}
        )
        features.check_returns(base, source="prices")
        n_read += base.height
        base = base.join(market, on="date", how="left", maintain_order="left")
        daily = features.compute_daily(base, stage_zero)
        del base
        daily = features.add_daily_columns(daily, panel_sources.flag_columns(stage_zero))
        carry = ["close", "n_obs", "sector", *stage_zero, *flags]
        periods = to_frequency(daily, freq, carry=carry)
        del daily
        periods = flag_universe(periods.filter(pl.col("date") >= start), universe)
        counts.append(universe_counts(periods, universe, freq))
        sources.append(panel_sources.count_sources(periods, freq, stage_zero))
        narrow.append(periods.select("date", "ticker", *inputs))
        stored = periods.select(*PANEL_KEY_COLUMNS, "is_in_universe", *stage_zero)
        store.validate_panel(stored, source=f"characteristics_{freq}")
        relation = con.from_arrow(stored.to_arrow())
        if number == 0:
            relation.create(f"characteristics_staging_{freq}")
        else:
            relation.insert_into(f"characteristics_staging_{freq}")
        del periods, stored
    count_columns = ["n_total", "n_price", "n_history", "n_dollar_volume", "n_universe"]
    all_counts = (
        pl.concat(counts)
        .group_by("freq", "date")
        .agg(pl.col(count_columns).sum())
        .select("freq", "date", *count_columns)
        .sort("date")
    )
    return pl.concat(narrow), all_counts, pl.concat(sources), n_read


def build_panel(
    con: duckdb.DuckDBPyConnection,
    freq: str = "daily",
    *,
    full: bool = False,
    universe: UniverseConfig | None = None,
) -> BuildReport:
    """Build or extend `characteristics_<freq>` from the warehouse prices.

    Incremental by default: only periods from the second-latest stored date on are recomputed,
    reading just the sessions their windows need; the result equals a full rebuild (up to
    floating-point rounding of window sums that start at a different session). A changed
    registry or a user panel in the table forces a full rebuild. Run
    `cae.warehouse.actions.detect_actions` first so splits are adjusted.
    """
    check_freq(freq)
    universe = universe or UniverseConfig()
    names = features.names()
    first_price = query_frame(con, "prices#date_range")["first_date"][0]
    try:
        return _build(con, freq, names, universe, full, first_price)
    finally:
        # Outside the transaction: a reset inside one that failed would fail too.
        run_sql(con, "settings#returns_floor_reset")


def _build(
    con: duckdb.DuckDBPyConnection,
    freq: str,
    names: Sequence[str],
    universe: UniverseConfig,
    full: bool,
    first_price: dt.date | None,
) -> BuildReport:
    with _duckdb_memory(con, BUILD_DUCKDB_MEMORY), transaction(con):
        from_date, moved_to = _recompute_from(con, freq, names, universe, full)
        is_full = from_date is None
        if first_price is None:
            return BuildReport(freq, from_date, 0, 0, is_full, moved_to=moved_to)
        state = {"freq": freq, **_read_inputs(con)}
        if not is_full and query_frame(con, "panel/panel_meta#state_read", state).rows() == [
            (state["data_version"], state["inputs"])
        ]:
            return BuildReport(freq, from_date, 0, 0, False, up_to_date=True)
        start = first_price if is_full else from_date
        narrow, counts, sources, n_read = _stage_zero_to_staging(
            con, freq, start, names, universe, is_full=is_full
        )
        stage_one = features.add_cross_sectional(narrow, names).select(
            "date", "ticker", *features.stage_names(1, names)
        )
        if not is_full:
            store.execute(con, "characteristics#delete_from", freq, {"from_date": start})
        con.register("stage_one", stage_one)
        try:
            assemble = (
                "characteristics_assemble_create" if is_full else "characteristics_assemble_insert"
            )
            store.execute(con, assemble, freq)
        finally:
            con.unregister("stage_one")
        store.execute(con, "characteristics#staging_drop", freq)
        published.mark(con, f"characteristics_{freq}", None if is_full else start)
        run_sql(con, "panel/panel_meta#state_write", state)
        store.execute(
            con,
            "characteristics#universe_counts_delete_from",
            freq,
            {"freq": freq, "from_date": start},
        )
        con.from_arrow(counts.to_arrow()).insert_into("universe_counts")
        panel_sources.write_sources(con, freq, None if is_full else start, sources)
        labels = panel_sources.summarise_sources(con, freq)
        store.write_meta(con, freq, COMPUTED_SOURCE, names, universe, sources=labels)
    n_dates = narrow["date"].n_unique()
    return BuildReport(freq, start, narrow.height, n_dates, is_full, n_read, moved_to)


def refresh_panels(
    con: duckdb.DuckDBPyConnection,
    freqs: Sequence[str] = ("daily", "weekly"),
    *,
    universe: UniverseConfig | None = None,
) -> list[BuildReport]:
    """Apply corporate actions, then build each panel incrementally: what `cae run` calls."""
    detect_actions(con)
    return [build_panel(con, freq, universe=universe) for freq in freqs]


def normalise_ranks(frame: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame:
    """Rank each characteristic per date into [-1, 1]: 2 * rank / (n + 1) - 1, ties averaged.

    Rank only tickers where the characteristic is known at d, so a missing cell cannot shift
    the others' ranks; missing cells then become 0, the cross-sectional median.
    """
    return frame.with_columns(
        (
            2 * pl.col(name).rank("average").over("date") / (pl.col(name).count().over("date") + 1)
            - 1
        )
        .fill_null(0.0)
        .cast(pl.Float64)
        .alias(name)
        for name in names
    )


def read_panel(
    con: duckdb.DuckDBPyConnection,
    freq: str = "weekly",
    normalise: bool = True,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pl.DataFrame:
    """Read the universe rows of the panel at `freq`, sorted by date and ticker.

    `freq` is a panel key: a frequency, or own_<freq> for the user's panel (`ingest_panel`),
    whose raw characteristics are ranked per date exactly like computed ones. Columns: `date`,
    `ticker`, `ret` (period ending at date), `ret_fwd` (next period, null at the end), then one
    Float64 per characteristic: ranked into [-1, 1] with missing -> 0 when `normalise`, raw with
    nulls otherwise.
    """
    names = characteristic_names(con, freq)
    if not names and not store.table_exists(con, freq):
        how = (
            f"load one with `cae ingest-panel FILE --freq {freq.removeprefix(OWN_PREFIX)}`"
            if freq.startswith(OWN_PREFIX)
            else f"ingest prices and run `cae build-panel --freq {freq}`"
        )
        raise ValidationError(f"no characteristics_{freq} panel in the warehouse: {how}")
    rows = store.query(con, "characteristics#read", freq, {"start": start, "end": end})
    panel = rows.select(
        "date",
        pl.col("ticker").cast(pl.Utf8),
        pl.col("ret").cast(pl.Float64),
        pl.col("ret_fwd").cast(pl.Float64),
        *[pl.col(name).cast(pl.Float64) for name in names],
    )
    if normalise:
        panel = normalise_ranks(panel, names)
    return store.validate_panel(panel, source=f"characteristics_{freq}", normalised=normalise)
