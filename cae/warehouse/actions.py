"""Corporate actions: splits and reverse splits found in raw prices, or given by the user.

Raw prices jump on a split day (2:1 halves the price); left alone, that jump is a -50% return.
`detect_actions` fills the `adjustments` table from three sources, each with its evidence:
a user corporate-actions file (wins on its day), the vendor's `adj_factor` (wins for its ticker)
and detection from the prices themselves. Temporary tickers (ETFCD during ETFC's reverse split)
are stitched onto their root first, through `ticker_aliases` and the `prices_stitched` view.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from cae.errors import DataError, FileFormatError
from cae.warehouse.db import lookback_floor, query_frame, run_sql, transaction

__all__ = [
    "ActionsConfig",
    "detect_actions",
    "list_actions",
    "list_aliases",
    "read_actions_file",
]

ACTIONS_FILE_COLUMNS = ("ticker", "date", "ratio")
# `detect_actions` from this date: over all history.
FROM_THE_START = dt.date.min
# Calendar days read per session of look-back before the first new day: the 11 sessions
# detection reads (the day before and `volume_sessions` before that) span about 15 days.
DETECTION_DAYS_PER_SESSION = 3


@dataclass(frozen=True)
class ActionsConfig:
    """How splits are recognised in raw prices."""

    # New shares per old share that count as a split: 2:1, 3:1, 3:2, 4:1, 5:1, 10:1 and reverses.
    ratios: tuple[float, ...] = (2.0, 3.0, 1.5, 4.0, 5.0, 10.0, 0.5, 1 / 3, 2 / 3, 0.25, 0.2, 0.1)
    # Close and open must sit within 7.5% of the split-implied ratio: a split day's own move
    # is a few percent (ETFC's 1:10 closed 5.6% above it); CAH's -27% on the CareFusion
    # spin-off sits 8.9% from 3:2 and stays out. ARG's +40% takeover sits 6.6% from 2:3, so
    # the volume rule rejects it.
    tolerance: float = 0.075
    # Sessions in the median share volume that the candidate day's volume is compared with.
    volume_sessions: int = 10


def read_actions_file(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read a corporate-actions CSV (ticker, date, ratio = new shares per old share).

    Raises a `DataError` naming the file, the line and the rule for any bad row.
    """
    path = Path(path)
    try:
        raw = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise FileFormatError(f"{path}: cannot read corporate actions: {error}") from error
    missing = [c for c in ACTIONS_FILE_COLUMNS if c not in raw.columns]
    if missing:
        raise FileFormatError(f"{path}: missing column(s) {', '.join(missing)}")
    rows = raw.with_row_index("line", offset=2).select(
        pl.col("line").cast(pl.Int64),
        pl.col("ticker").str.strip_chars(),
        pl.col("date").str.strip_chars().str.to_date("%Y-%m-%d", strict=False).alias("date"),
        pl.col("ratio").str.strip_chars().cast(pl.Float64, strict=False).alias("ratio"),
        pl.col("date").alias("date_text"),
    )
    rules = [
        (pl.col("ticker").is_null() | (pl.col("ticker") == ""), "ticker is empty"),
        (pl.col("date").is_null(), "date is not YYYY-MM-DD"),
        (pl.col("ratio").is_null() | ~(pl.col("ratio") > 0), "ratio is not a positive number"),
    ]
    for condition, rule in rules:
        bad = rows.filter(condition)
        if bad.height:
            lines = ", ".join(str(n) for n in bad["line"].head(5))
            raise DataError(f"{path}: line(s) {lines}: {rule}")
    duplicated = rows.filter(pl.struct("ticker", "date").is_duplicated())
    if duplicated.height:
        lines = ", ".join(str(n) for n in duplicated["line"].head(5))
        raise DataError(f"{path}: line(s) {lines}: one action per ticker and date")
    return rows.select("ticker", "date", "ratio", "line")


def detect_actions(
    con: duckdb.DuckDBPyConnection,
    actions_file: str | os.PathLike[str] | None = None,
    config: ActionsConfig | None = None,
) -> pl.DataFrame:
    """Refresh `ticker_aliases` and `adjustments` from the warehouse prices; return the latter.

    Detected and vendor rows are recomputed each time; file rows are replaced only when a file
    is given, so a file loaded once keeps winning until another one replaces it.
    """
    config = config or ActionsConfig()
    file_rows = read_actions_file(actions_file) if actions_file is not None else None
    params = {
        "ratios": list(config.ratios),
        "tolerance": config.tolerance,
        "volume_sessions": config.volume_sessions,
    }
    with transaction(con):
        aliases = list_aliases(con)
        run_sql(con, "ticker_aliases#stitch")
        settings = json.dumps(dataclasses.asdict(config))
        since, last_batch = _changed_since(con, settings)
        # A root ticker's stitched prices change from the first day of an alias that changed.
        # last_date grows while an alias trades; it changes no stitched row already there.
        keys = ["alias", "ticker", "first_date"]
        changed = pl.concat([aliases.select(keys), list_aliases(con).select(keys)])
        restitched = changed.unique(keep="none")["first_date"]
        if restitched.len():
            since = min(since or dt.date.max, restitched.min())
        if since is not None:
            window = _window(con, since, config)
            for source in ("detected", "adj_close"):
                run_sql(con, "adjustments#clear", {"source": source, "since": window["since"]})
            run_sql(con, "adjustments_detected", {**params, **window})
            run_sql(con, "adjustments_adj_close", window)
        run_sql(con, "adjustments#state_write", {"last_batch": last_batch, "config": settings})
        if file_rows is not None:
            run_sql(con, "adjustments#clear", {"source": "file", "since": None})
            con.register("actions_file_rows", file_rows)
            try:
                run_sql(con, "adjustments_file", {"file": str(actions_file)})
            finally:
                con.unregister("actions_file_rows")
        run_sql(con, "adjustments_apply")
    return list_actions(con)


def _changed_since(con: duckdb.DuckDBPyConnection, settings: str) -> tuple[dt.date | None, int]:
    """Return the first date to detect from and the newest batch.

    The date is the first of the rows written since detection last ran (None: nothing new), or
    `FROM_THE_START` when it never ran or ran with other settings.
    """
    state = run_sql(con, "adjustments#state_read").fetchall()
    seen = state[0][0] if state and state[0][1] == settings else None
    first, last_batch = run_sql(
        con, "adjustments#changed_since", {"after_batch": -1 if seen is None else seen}
    ).fetchall()[0]
    return (FROM_THE_START if seen is None else first), last_batch


def _window(con: duckdb.DuckDBPyConnection, since: dt.date, config: ActionsConfig) -> dict:
    """Return the `since`/`floor` parameters of an incremental detection, or all history.

    Detection on day d reads the session before d and the `volume_sessions` before that
    (`lookback_floor`); a ticker with a long gap just before `since` makes it read everything.
    """
    if since == FROM_THE_START:
        return {"since": None, "floor": None}
    sessions = config.volume_sessions + 1
    days = DETECTION_DAYS_PER_SESSION * sessions
    floor = lookback_floor(con, since, sessions=sessions, days=days)
    return {"since": None if floor is None else since, "floor": floor}


def list_actions(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Return every adjustment with its source, evidence and whether it is applied."""
    return query_frame(con, "adjustments#list")


def list_aliases(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Return the temporary tickers stitched onto their root ticker."""
    return query_frame(con, "ticker_aliases#list")
