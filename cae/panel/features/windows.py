"""Trailing-window building blocks shared by the characteristics (all per ticker, all causal).

Windows count the ticker's own sessions. `min_samples` equal to the window means a value needs
the full window: a characteristic without enough history is null, never zero.

The engine evaluates every characteristic on one frame sorted by ticker and date, with three
helper columns: `TICKER_RUN` (an integer per ticker), `SESSION` (the row's position within
its ticker, 0 at the ticker's first row in the frame) and `ROW` (its position in the frame).
A window sum is a difference of running totals, `sum(t-w+1..t) = total(t) - total(t-w)`,
masked by `SESSION` so it never reaches into the previous ticker's rows. Running totals restart
at each ticker, so a value depends on its own ticker's sessions up to t only, bit for bit,
never on another ticker's rows. A difference of totals carries the rounding of the ticker's
whole history (relative error about 1e-16 times history sum / window sum), which is negligible
for sums and means; variances cancel, so `trailing_std` and `trailing_max` use window-local
rolling kernels instead.

Each running total is a column the engine computes once per frame (`RUNNING` maps its name to
its definition), as is each streak of valid sessions that tells whether a window is full
(`STREAKS`), so characteristics that share sums (beta and idiovol share six, the momentum
family one) share the work: Polars does not merge identical window expressions by itself.
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

__all__ = [
    "HALF_YEAR",
    "MONTH",
    "ROW",
    "RUNNING",
    "SESSION",
    "STREAKS",
    "TICKER_RUN",
    "WEEK",
    "YEAR",
    "cumulative_return",
    "full_window",
    "helper_columns",
    "lagged",
    "per_ticker",
    "positive_log",
    "running_totals",
    "trailing_count",
    "trailing_max",
    "trailing_mean",
    "trailing_std",
    "trailing_sum",
]

MONTH = 21  # trading sessions in a month
WEEK = 5  # trading sessions in a week
HALF_YEAR = 126
YEAR = 252
TICKER_RUN = "_ticker_run"  # helper column: one integer per ticker, rows sorted by ticker, date
SESSION = "_session"  # helper column: 0-based position of the row within its ticker
ROW = "_row"  # helper column: 0-based position of the row in the frame
# The (tickers x sessions) array of `running_totals` may hold this many cells per frame row;
# beyond it (one long history among many short ones) tickers are summed one by one instead.
MAX_PADDING = 4
# Helper column name -> its definition, filled on first use: running totals (a per-ticker
# cumulative sum of the definition) and streaks (a whole-column expression).
RUNNING: dict[str, pl.Expr] = {}
STREAKS: dict[str, pl.Expr] = {}


def per_ticker(expr: pl.Expr) -> pl.Expr:
    """Evaluate the length-preserving `expr` within each ticker's own history.

    Rows are sorted by ticker, so the tickers' results are concatenated in row order
    ("explode") instead of scattered back by index, which costs as much as the window itself.
    """
    return expr.over(TICKER_RUN, mapping_strategy="explode")


def lagged(expr: pl.Expr, sessions: int) -> pl.Expr:
    """Return `expr` of the ticker's session t-`sessions` (null before its first session)."""
    return pl.when(pl.col(SESSION) >= sessions).then(expr.shift(sessions))


def _helper(registry: dict[str, pl.Expr], prefix: str, expr: pl.Expr) -> pl.Expr:
    digest = hashlib.sha1(expr.meta.serialize(format="binary")).hexdigest()[:16]
    name = f"{prefix}{digest}"
    registry.setdefault(name, expr)
    return pl.col(name)


def _running_total(expr: pl.Expr) -> pl.Expr:
    """Return the column holding the ticker's running total of `expr` (nulls count as 0)."""
    return _helper(RUNNING, "_running_", expr)


def full_window(valid: pl.Expr, window: int) -> pl.Expr:
    """Return whether `valid` holds on each of the ticker's last `window` sessions.

    From one streak column per `valid`: the sessions in a row, up to t and within the ticker,
    where it holds; a window is full when the streak reaches it. Cheaper than counting.
    """
    row = pl.col(ROW)
    # The last row up to t where `valid` fails; at a ticker's first row, the row before it.
    last_gap = (
        pl.when(~valid.fill_null(False))
        .then(row)
        .when(pl.col(SESSION) == 0)
        .then(row - 1)
        .forward_fill()
    )
    return _helper(STREAKS, "_streak_", row - last_gap) >= window


def helper_columns(exprs: list[pl.Expr]) -> tuple[list[pl.Expr], list[str]]:
    """Return the helper columns that `exprs` read: expressions to add, then running totals.

    The first list holds the streaks and each running total's summand (whole-column
    expressions, under the running total's name); the second the names whose summands
    `running_totals` then turns into per-ticker running totals.
    """
    used = {n for e in exprs for n in e.meta.root_names()}
    running = sorted(used & RUNNING.keys())
    first = [RUNNING[name].fill_null(0).alias(name) for name in running]
    first += [STREAKS[name].alias(name) for name in sorted(used & STREAKS.keys())]
    return first, running


def running_totals(frame: pl.DataFrame, names: list[str]) -> list[pl.Series]:
    """Return the per-ticker running totals of the summand columns `names` (nulls count as 0).

    Each ticker's total restarts at its first row (`SESSION` 0), so it reads that ticker's rows
    only. Integer summands (counts) are exact in a whole-column cumulative sum, so a ticker's
    total is that minus the total before its first row. Float sums would carry other tickers'
    rounding that way, so each ticker is summed on its own: its rows become one row of a
    (tickers x sessions) array that numpy sums along the sessions axis, several times faster
    than a Polars window (`.over`), which gathers every ticker into a list and back.
    """
    sessions = frame[SESSION].to_numpy()
    firsts = np.flatnonzero(sessions == 0)
    lengths = np.diff(np.append(firsts, frame.height))
    n_tickers, width = len(firsts), int(lengths.max(initial=0))
    # Cell of each row in the (tickers x sessions) array.
    cells = np.repeat(np.arange(n_tickers, dtype=np.int64) * width, lengths) + sessions
    padded = n_tickers * width <= MAX_PADDING * max(frame.height, 1)
    # One array for every column: padding cells sit after each ticker's last session, so
    # whatever they hold never enters a total (a fresh array per column costs page faults).
    grid = np.empty((n_tickers, width) if padded else (0, 0))  # (tickers, sessions)
    totals = []
    for name in names:
        column = frame[name].fill_null(0)
        if column.dtype.is_integer():
            running = np.cumsum(column.to_numpy(), dtype=np.int64)
            before = np.concatenate([[0], running[firsts[1:] - 1]])
            total = running - np.repeat(before, lengths)
        elif padded:
            # Chunk by chunk: each is a zero-copy view, where one numpy array of the whole
            # column would be another copy.
            start = 0
            for chunk in column.get_chunks():
                grid.ravel()[cells[start : start + chunk.len()]] = chunk.to_numpy()
                start += chunk.len()
            total = np.cumsum(grid, axis=1, out=grid).ravel()[cells]
        else:
            values = column.to_numpy()
            total = np.empty(len(values), dtype=np.float64)
            for first, length in zip(firsts.tolist(), lengths.tolist(), strict=True):
                np.cumsum(values[first : first + length], out=total[first : first + length])
        totals.append(pl.Series(name, total))
    return totals


def _windowed(running: pl.Expr, window: int) -> pl.Expr:
    # The running total before the window, 0 when the window starts at the ticker's first row:
    # a short history gives the partial window that `min_samples` then accepts or rejects.
    before = pl.when(pl.col(SESSION) >= window).then(running.shift(window)).otherwise(0)
    return running - before


def trailing_count(valid: pl.Expr, window: int) -> pl.Expr:
    """Count the sessions among the ticker's last `window` where `valid` is true."""
    return _windowed(_running_total(valid.fill_null(False).cast(pl.Int32)), window)


def trailing_sum(
    expr: pl.Expr,
    window: int,
    min_samples: int | None = None,
    *,
    valid: pl.Expr | None = None,
) -> pl.Expr:
    """Sum the non-null values of `expr` over the ticker's last `window` sessions.

    Null unless at least `min_samples` (default: all `window`) of them are non-null, as
    Polars' `rolling_sum` does. `valid`, when given, must be true exactly where `expr` is
    non-null: sums over the same rows then share one count.
    """
    valid = expr.is_not_null() if valid is None else valid
    if min_samples is None or min_samples >= window:
        enough = full_window(valid, window)
    else:
        enough = trailing_count(valid, window) >= min_samples
    return pl.when(enough).then(_windowed(_running_total(expr.cast(pl.Float64)), window))


def trailing_mean(
    expr: pl.Expr,
    window: int,
    min_samples: int | None = None,
    *,
    valid: pl.Expr | None = None,
) -> pl.Expr:
    """Mean of the non-null values of `expr` over the ticker's last `window` sessions.

    `valid` as in `trailing_sum`.
    """
    valid = expr.is_not_null() if valid is None else valid
    if min_samples is None or min_samples >= window:
        return trailing_sum(expr, window, valid=valid) / window
    return trailing_sum(expr, window, min_samples, valid=valid) / trailing_count(valid, window)


def trailing_std(expr: pl.Expr, window: int) -> pl.Expr:
    """Return the std (ddof 1) of `expr` over the ticker's last `window` sessions (all non-null).

    Polars' rolling std over the whole column, kept only where the ticker has `window` non-null
    sessions, so it never spans two tickers. Not from running sums of x and x^2: those lose the
    variance of a quiet window after a loud history (dollar volume that fell 500-fold).
    """
    full = full_window(expr.is_not_null(), window)
    return pl.when(full).then(expr.rolling_std(window, min_samples=window, ddof=1))


def trailing_max(expr: pl.Expr, window: int) -> pl.Expr:
    """Largest value of `expr` over the ticker's last `window` sessions (all of them non-null).

    The whole-column window is kept only where the ticker has `window` non-null sessions, so it
    never spans two tickers; a maximum has no rounding, so it is exact.
    """
    full = full_window(expr.is_not_null(), window)
    return pl.when(full).then(expr.rolling_max(window, min_samples=window))


def cumulative_return(window: int, skip: int = 0) -> pl.Expr:
    """Return the compounded return of sessions t-skip-window+1 .. t-skip (needs all of them)."""
    log_growth = trailing_sum(pl.col("ret").log1p(), window, valid=pl.col("ret").is_not_null())
    if skip:
        log_growth = lagged(log_growth, skip)
    return log_growth.exp() - 1


def positive_log(expr: pl.Expr) -> pl.Expr:
    """Return log(expr) where expr > 0, else null (log of no trading is missing, not -inf)."""
    return pl.when(expr > 0).then(expr.log()).otherwise(None)
