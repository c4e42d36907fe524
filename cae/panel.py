"""The characteristics panel: built from prices, stored raw, read normalised.

One table per frequency, `characteristics_<freq>` (daily, weekly, monthly), one row per date and
ticker with `ret`, `ret_fwd`, `is_in_universe` and one column per characteristic. The columns
follow the registry (or the user's file for `ingest_panel`), so cae creates these tables rather
than a migration. Normalisation happens when the panel is read (Gu, Kelly & Xiu 2019, sec. 2.1):
per date, ranks over the tickers where a characteristic is known, mapped into [-1, 1].
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandera.errors
import polars as pl

from cae import features
from cae.errors import DataError, FileFormatError, ValidationError
from cae.features import REGISTRY
from cae.frequency import check_freq, to_frequency
from cae.schemas import PANEL_KEY_COLUMNS, CharacteristicsPanel, NormalisedPanel
from cae.sqlframe import query_frame
from cae.universe import UniverseConfig, flag_universe, universe_counts
from cae.warehouse import read_sql, run_sql, transaction

__all__ = [
    "BuildReport",
    "build_panel",
    "characteristic_names",
    "ingest_panel",
    "normalise_ranks",
    "read_panel",
    "validate_panel",
]

# Calendar days before the recompute date whose sessions are re-read: a whole month, so the
# compounded return of the first recomputed period sees all of its sessions.
PERIOD_SLACK_DAYS = 35
COMPUTED_SOURCE = "computed"
# Tickers whose daily windows are computed together: ~0.6M daily rows for 10 years, which
# bounds the build's memory to about one chunk's intermediates plus the finished panel.
TICKERS_PER_CHUNK = 250
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


def _freq_sql(name: str, freq: str) -> str:
    # The table name is the only identifier filled in, and only from the FREQUENCIES whitelist.
    return read_sql(f"panel/{name}").replace("{freq}", check_freq(freq))


def _used(text: str, params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    used = {k: v for k, v in (params or {}).items() if f"${k}" in text}
    return used or None


def _execute(con: duckdb.DuckDBPyConnection, name: str, freq: str, params=None) -> None:
    text = _freq_sql(name, freq)
    con.execute(text, _used(text, params)).fetchall()


def _query(con: duckdb.DuckDBPyConnection, name: str, freq: str, params=None) -> pl.DataFrame:
    text = _freq_sql(name, freq)
    return pl.from_arrow(con.sql(text, params=_used(text, params)).to_arrow_table())


def _table_exists(con: duckdb.DuckDBPyConnection, freq: str) -> bool:
    frame = _query(con, "table_exists", freq, {"name": f"characteristics_{freq}"})
    return bool(frame["n"][0])


def _meta(con: duckdb.DuckDBPyConnection, freq: str) -> dict[str, Any] | None:
    rows = _query(con, "panel_meta_read", freq, {"freq": freq})
    return rows.row(0, named=True) if rows.height else None


def characteristic_names(con: duckdb.DuckDBPyConnection, freq: str = "weekly") -> list[str]:
    """Return the characteristic columns of the stored panel at `freq`, in column order."""
    meta = _meta(con, freq)
    return list(json.loads(meta["char_names"])) if meta else []


def _universe_json(universe: UniverseConfig | None) -> str | None:
    return json.dumps(dataclasses.asdict(universe), sort_keys=True) if universe else None


def _write_meta(
    con, freq: str, source: str, names: Sequence[str], universe: UniverseConfig | None
) -> None:
    proxies = universe is not None  # computed panels use the proxies; user panels do not
    params = {
        "universe_config": _universe_json(universe),
        "freq": freq,
        "source": source,
        "char_names": json.dumps(list(names)),
        "turn_source": features.TURN_SOURCE if proxies else None,
        "mvel1_source": features.MVEL1_SOURCE if proxies else None,
    }
    _execute(con, "panel_meta_upsert", freq, params)


def _recompute_from(
    con, freq: str, names: Sequence[str], universe: UniverseConfig, full: bool
) -> dt.date | None:
    """Return the first period date to recompute, or None for a full build.

    A full build is forced when the stored panel was made differently: other characteristics,
    other universe filters, or a user's file.
    """
    if not _table_exists(con, freq):
        return None
    meta = _meta(con, freq)
    stale = meta is None or meta["source"] != COMPUTED_SOURCE
    changed = stale or (
        json.loads(meta["char_names"]) != list(names)
        or meta["universe_config"] != _universe_json(universe)
    )
    if full or changed:
        _execute(con, "characteristics_drop", freq)
        return None
    recent = _query(con, "characteristics_recent_dates", freq)["date"].to_list()
    return recent[-1] if recent else None


@contextmanager
def _duckdb_memory(con: duckdb.DuckDBPyConnection, limit: str) -> Iterator[None]:
    previous = query_frame(con, "settings_memory_limit_read")["memory_limit"][0]
    run_sql(con, "settings_memory_limit", {"limit": limit})
    try:
        yield
    finally:
        run_sql(con, "settings_memory_limit", {"limit": previous})


def _ticker_chunks(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str | None]]:
    tickers = query_frame(con, "panel/ticker_list")["ticker"].to_list()
    starts = tickers[::TICKERS_PER_CHUNK]
    return list(zip(starts, [*starts[1:], None], strict=True))


def _stage_zero_to_staging(
    con: duckdb.DuckDBPyConnection,
    freq: str,
    start: dt.date,
    names: Sequence[str],
    universe: UniverseConfig,
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Write the per-ticker characteristics from `start` on to the staging table, by chunk.

    Tickers are processed in chunks so memory holds one chunk's daily windows at a time; each
    chunk reads only the sessions its windows need before `start`. Returns the narrow columns
    the cross-sectional characteristics need, the per-date universe counts and the number of
    daily rows read.
    """
    market = query_frame(con, "market_returns")
    stage_zero = features.stage_names(0, names)
    inputs = sorted({c for n in features.stage_names(1, names) for c in REGISTRY[n].inputs})
    params = {
        "from_date": start - dt.timedelta(days=PERIOD_SLACK_DAYS),
        "lookback": features.lookback_sessions(names),
    }
    narrow, counts, n_read = [], [], 0
    _execute(con, "characteristics_staging_drop", freq)
    for number, (ticker_from, ticker_to) in enumerate(_ticker_chunks(con)):
        base = query_frame(
            con, "daily_base", {**params, "ticker_from": ticker_from, "ticker_to": ticker_to}
        )
        features.check_returns(base, source="prices")
        n_read += base.height
        base = base.join(market, on="date", how="left", maintain_order="left")
        daily = features.compute_daily(base, stage_zero)
        del base
        periods = to_frequency(daily, freq, carry=["close", "n_obs", "sector", *stage_zero])
        del daily
        periods = flag_universe(periods.filter(pl.col("date") >= start), universe)
        counts.append(universe_counts(periods, universe, freq))
        narrow.append(periods.select("date", "ticker", *inputs))
        stored = periods.select(*PANEL_KEY_COLUMNS, "is_in_universe", *stage_zero)
        validate_panel(stored, source=f"characteristics_{freq}")
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
    return pl.concat(narrow), all_counts, n_read


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
    `cae.actions.detect_actions` first so splits are adjusted.
    """
    check_freq(freq)
    universe = universe or UniverseConfig()
    names = features.names()
    first_price = query_frame(con, "panel/prices_date_range")["first_date"][0]
    with _duckdb_memory(con, BUILD_DUCKDB_MEMORY), transaction(con):
        from_date = _recompute_from(con, freq, names, universe, full)
        is_full = from_date is None
        if first_price is None:
            return BuildReport(freq, from_date, 0, 0, is_full)
        start = first_price if is_full else from_date
        narrow, counts, n_read = _stage_zero_to_staging(con, freq, start, names, universe)
        stage_one = features.add_cross_sectional(narrow, names).select(
            "date", "ticker", *features.stage_names(1, names)
        )
        if not is_full:
            _execute(con, "characteristics_delete_from", freq, {"from_date": start})
        con.register("stage_one", stage_one)
        try:
            assemble = (
                "characteristics_assemble_create" if is_full else "characteristics_assemble_insert"
            )
            _execute(con, assemble, freq)
        finally:
            con.unregister("stage_one")
        _execute(con, "characteristics_staging_drop", freq)
        _execute(con, "universe_counts_delete_from", freq, {"freq": freq, "from_date": start})
        con.from_arrow(counts.to_arrow()).insert_into("universe_counts")
        _write_meta(con, freq, COMPUTED_SOURCE, names, universe)
    n_dates = narrow["date"].n_unique()
    return BuildReport(freq, start, narrow.height, n_dates, is_full, n_read)


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


def validate_panel(frame: pl.DataFrame, *, source: str, normalised: bool = False) -> pl.DataFrame:
    """Check a panel at the boundary; raise a `ValidationError` naming the rows and rules."""
    model = NormalisedPanel if normalised else CharacteristicsPanel
    try:
        return model.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        cases = errors.failure_cases.head(5)
        details = "; ".join(
            f"row {row['index']} {row['column']}: {row['check']} (got {row['failure_case']})"
            for row in cases.iter_rows(named=True)
        )
        n_failures = errors.failure_cases.height
        raise ValidationError(f"{source}: {n_failures} failure(s): {details}") from None


def read_panel(
    con: duckdb.DuckDBPyConnection,
    freq: str = "weekly",
    normalise: bool = True,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pl.DataFrame:
    """Read the universe rows of the panel at `freq`, sorted by date and ticker.

    Columns: `date`, `ticker`, `ret` (period ending at date), `ret_fwd` (next period, null at
    the end), then one Float64 per characteristic: ranked into [-1, 1] with missing -> 0 when
    `normalise`, raw with nulls otherwise.
    """
    names = characteristic_names(con, freq)
    if not names and not _table_exists(con, freq):
        raise ValidationError(
            f"no characteristics_{freq} panel in the warehouse: run `cae build-panel --freq {freq}`"
        )
    rows = _query(con, "characteristics_read", freq, {"start": start, "end": end})
    panel = rows.select(
        "date",
        pl.col("ticker").cast(pl.Utf8),
        pl.col("ret").cast(pl.Float64),
        pl.col("ret_fwd").cast(pl.Float64),
        *[pl.col(name).cast(pl.Float64) for name in names],
    )
    if normalise:
        panel = normalise_ranks(panel, names)
    return validate_panel(panel, source=f"characteristics_{freq}", normalised=normalise)


def _read_user_file(path: Path) -> pl.DataFrame:
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            return pl.read_parquet(path)
        return pl.read_csv(path, infer_schema_length=10_000)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise FileFormatError(f"{path}: cannot read the panel: {error}") from error


def _user_dates(column: pl.Series, path: Path) -> pl.Series:
    if column.dtype == pl.Date:
        dates = column
    else:
        text = column.cast(pl.Utf8).str.strip_chars()
        # ISO dates, or the GKX / Open Source Asset Pricing integer form 19570131.
        iso = text.str.to_date("%Y-%m-%d", strict=False)
        dates = iso.fill_null(text.str.to_date("%Y%m%d", strict=False))
    bad = dates.is_null()
    if bad.any():
        line = int(bad.arg_true()[0]) + 2
        raise DataError(
            f"{path}: line {line}: date {column[line - 2]!r} is not YYYY-MM-DD or YYYYMMDD"
        )
    return dates.alias("date")


def ingest_panel(
    con: duckdb.DuckDBPyConnection, file: str | os.PathLike[str], freq: str = "monthly"
) -> BuildReport:
    """Load a user's own characteristics panel (CSV or Parquet) as `characteristics_<freq>`.

    Required columns: date, ticker, ret; optional ret_fwd (else the ticker's ret at the file's
    next date); every other column is a characteristic and must be numeric. Validated like a
    computed panel; it replaces any panel at `freq` and is then read exactly like one.
    """
    check_freq(freq)
    path = Path(file)
    raw = _read_user_file(path)
    missing = [c for c in ("date", "ticker", "ret") if c not in raw.columns]
    if missing:
        raise FileFormatError(f"{path}: missing required column(s) {', '.join(missing)}")
    names = [c for c in raw.columns if c not in PANEL_KEY_COLUMNS]
    numeric = {}
    for name in ["ret", *(["ret_fwd"] if "ret_fwd" in raw.columns else []), *names]:
        values = raw[name].cast(pl.Float64, strict=False)
        bad = values.is_null() & raw[name].is_not_null()
        if bad.any():
            line = int(bad.arg_true()[0]) + 2
            raise DataError(f"{path}: line {line}: column {name} is not a number")
        numeric[name] = values.fill_nan(None)
    panel = pl.DataFrame(
        {"date": _user_dates(raw["date"], path), "ticker": raw["ticker"].cast(pl.Utf8), **numeric}
    )
    if "ret_fwd" not in panel.columns:
        calendar = panel.select(pl.col("date").unique().sort())
        calendar = calendar.with_columns(pl.col("date").shift(-1).alias("next_date"))
        forward = panel.select(
            "ticker", pl.col("date").alias("next_date"), pl.col("ret").alias("ret_fwd")
        )
        panel = panel.join(calendar, on="date").join(
            forward, on=["ticker", "next_date"], how="left"
        )
    features.check_returns(panel, source=str(path))
    stored = panel.select(*PANEL_KEY_COLUMNS, pl.lit(True).alias("is_in_universe"), *names).sort(
        "date", "ticker"
    )
    validate_panel(stored, source=str(path))
    with transaction(con):
        _execute(con, "characteristics_drop", freq)
        con.from_arrow(stored.to_arrow()).create(f"characteristics_{freq}")
        _write_meta(con, freq, f"file:{path}", names, None)
    return BuildReport(freq, stored["date"].min(), stored.height, stored["date"].n_unique(), True)
