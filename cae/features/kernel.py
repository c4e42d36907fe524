"""The per-ticker characteristics in one compiled pass over each ticker's rows (numba).

The Polars expressions of `momentum.py`, `risk.py` and `liquidity.py` define the
characteristics; this kernel computes the same values faster for `compute_daily`: one loop per
ticker keeps every running total, streak and window in registers, where the expressions make a
whole-column pass (a 54 MB column on the benchmark) per helper. Same semantics: windows count
the ticker's own sessions, `min_samples` and masks as in `windows.py`, a non-finite result is
null. Sums are differences of the same sequential running totals, so most values are bit for
bit the expressions'; standard deviations are two-pass within the window and logs and
exponentials may round differently, so `tests/test_features.py` allows 1e-12 relative.

A value at row t reads rows a..t of its ticker only (a: the ticker's first row), so another
ticker's rows or a later row cannot change it. Tickers run in parallel on numba's threads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numba
import numpy as np
import polars as pl

from cae.features.liquidity import (
    ILL_MIN_SESSIONS,
    MVEL1_MIN_SESSIONS,
    SHARES_MAX_AGE,
    TURN_SESSIONS,
)
from cae.features.risk import BETA_MIN_SESSIONS, BETA_WINDOW
from cae.features.windows import HALF_YEAR, MONTH, WEEK, YEAR

__all__ = ["KERNEL_INPUTS", "kernel_values"]

# Characteristic -> the base columns it reads; the output row order of `_all_tickers`.
KERNEL_INPUTS: dict[str, tuple[str, ...]] = {
    "mom1m": ("ret",),
    "mom6m": ("ret",),
    "mom12m": ("ret",),
    "mom36m": ("ret",),
    "chmom": ("ret",),
    "strev": ("ret",),
    "maxret": ("ret",),
    "retvol": ("ret",),
    "beta": ("ret", "mkt_ret"),
    "idiovol": ("ret", "mkt_ret"),
    "dolvol": ("dollar_volume",),
    "std_dolvol": ("dollar_volume",),
    "ill": ("ret", "dollar_volume"),
    "zerotrade": ("volume",),
    "turn": ("adj_volume", "adj_shares_out"),
    "std_turn": ("adj_volume", "adj_shares_out"),
    "baspread": ("adj_high", "adj_low"),
    "mvel1": ("adj_volume", "adj_shares_out", "adj_close"),
}
_COLUMNS = (
    "ret",
    "mkt_ret",
    "dollar_volume",
    "volume",
    "adj_volume",
    "adj_shares_out",
    "adj_close",
    "adj_high",
    "adj_low",
)
_N_OUTPUTS = len(KERNEL_INPUTS)
_CS_DENOMINATOR = 3 - 2 * math.sqrt(2)  # Corwin & Schultz (2012), eq. 18
# Log-growth windows (sessions) of the compounded returns: mom1m, mom6m, mom12m, mom36m,
# chmom, strev; mom6m and mom12m skip a month, mom36m a year.
_GROWTH = (MONTH, HALF_YEAR - MONTH, YEAR - MONTH, 2 * YEAR, HALF_YEAR, WEEK)
# Running totals kept per session (columns of the ticker's scratch array).
_LOG_GROWTH, _X, _Y, _XX, _XY, _YY, _DOLVOL, _ILL, _SPREAD = range(9)
_N_PAIRS, _N_ILL, _N_ZERO, _VOLUME, _N_VOLUME = range(9, 14)


@numba.njit(cache=True, inline="always")
def _finite(value: float) -> float:
    return value if math.isfinite(value) else math.nan


@numba.njit(cache=True, inline="always")
def _std(x: np.ndarray, t: int, window: int) -> float:
    # Two passes over the window, centred on x[t]: an unchanging window gives exactly 0, and a
    # quiet window after a loud history keeps its variance.
    mean = 0.0
    for k in range(t - window + 1, t + 1):
        mean += x[k] - x[t]
    mean /= window
    squares = 0.0
    for k in range(t - window + 1, t + 1):
        d = (x[k] - x[t]) - mean
        squares += d * d
    return math.sqrt(squares / (window - 1))


@numba.njit(cache=True, inline="always")
def _window(totals: np.ndarray, i: int, column: int, window: int) -> float:
    # Sum over the last `window` sessions from running totals; a partial window at the start.
    before = totals[i - window, column] if i >= window else 0.0
    return totals[i, column] - before


@numba.njit(cache=True, inline="always")
def _full_mean(totals: np.ndarray, i: int, window: int) -> float:
    # Mean adjusted share volume over the last `window` sessions, all of them known.
    if i + 1 >= window and _window(totals, i, _N_VOLUME, window) == window:
        return _window(totals, i, _VOLUME, window) / window
    return math.nan


@numba.njit(cache=True)
def _one_ticker(a, b, x, out, totals, growth, turnover):
    ret, mkt, dv, volume, adj_volume, shares, close, high, low = x
    lr = sx = sy = sxx = sxy = syy = s_dv = s_ill = s_spread = s_volume = 0.0
    n_pairs = n_ill = n_zero = n_volume = 0
    streak_ret = streak_dv = streak_volume = streak_spread = streak_turnover = 0
    last_shares, last_at = math.nan, -SHARES_MAX_AGE - 1
    for i in range(b - a):
        t = a + i
        r, m, d = ret[t], mkt[t], dv[t]
        has_ret = not math.isnan(r)
        if has_ret:
            lr += math.log1p(r)
            streak_ret += 1
        else:
            streak_ret = 0
        if has_ret and not math.isnan(m):
            sx += m
            sy += r
            sxx += m * m
            sxy += m * r
            syy += r * r
            n_pairs += 1
        if not math.isnan(d):
            s_dv += d
            streak_dv += 1
        else:
            streak_dv = 0
        if has_ret and d > 0:
            s_ill += abs(r) / d
            n_ill += 1
        if not math.isnan(volume[t]):
            streak_volume += 1
            n_zero += volume[t] == 0
        else:
            streak_volume = 0
        if not math.isnan(adj_volume[t]):
            s_volume += adj_volume[t]
            n_volume += 1
        h, lo = high[t], low[t]
        if i >= 1 and lo > 0 and low[t - 1] > 0 and h >= lo and high[t - 1] >= low[t - 1]:
            ph, pl_ = high[t - 1], low[t - 1]
            beta = math.log(h / lo) ** 2 + math.log(ph / pl_) ** 2
            gamma = math.log((h if h > ph else ph) / (lo if lo < pl_ else pl_)) ** 2
            alpha = (math.sqrt(2 * beta) - math.sqrt(beta)) / _CS_DENOMINATOR - math.sqrt(
                gamma / _CS_DENOMINATOR
            )
            spread = 2 * (math.exp(alpha) - 1) / (1 + math.exp(alpha))
            s_spread += spread if spread > 0 else 0.0
            streak_spread += 1
        else:
            streak_spread = 0
        row = totals[i]
        row[_LOG_GROWTH], row[_X], row[_Y], row[_XX], row[_XY], row[_YY] = lr, sx, sy, sxx, sxy, syy
        row[_DOLVOL], row[_ILL], row[_SPREAD] = s_dv, s_ill, s_spread
        row[_N_PAIRS], row[_N_ILL], row[_N_ZERO] = n_pairs, n_ill, n_zero
        row[_VOLUME], row[_N_VOLUME] = s_volume, n_volume

        for j in range(len(_GROWTH)):
            w = _GROWTH[j]
            growth[i, j] = _window(totals, i, _LOG_GROWTH, w) if streak_ret >= w else math.nan
        out[0][t] = math.exp(growth[i, 0]) - 1
        out[1][t] = math.exp(growth[i - MONTH, 1]) - 1 if i >= MONTH else math.nan
        out[2][t] = math.exp(growth[i - MONTH, 2]) - 1 if i >= MONTH else math.nan
        out[3][t] = math.exp(growth[i - YEAR, 3]) - 1 if i >= YEAR else math.nan
        recent = math.exp(growth[i, 4]) - 1
        out[4][t] = (
            recent - (math.exp(growth[i - HALF_YEAR, 4]) - 1) if i >= HALF_YEAR else math.nan
        )
        out[5][t] = math.exp(growth[i, 5]) - 1
        if streak_ret >= MONTH:
            largest = r
            for k in range(t - MONTH + 1, t):
                largest = max(largest, ret[k])
            out[6][t], out[7][t] = largest, _std(ret, t, MONTH)
        else:
            out[6][t] = out[7][t] = math.nan

        out[8][t] = out[9][t] = math.nan
        n = _window(totals, i, _N_PAIRS, BETA_WINDOW)
        if n >= BETA_MIN_SESSIONS:
            wx, wy = _window(totals, i, _X, BETA_WINDOW), _window(totals, i, _Y, BETA_WINDOW)
            cxx = _window(totals, i, _XX, BETA_WINDOW) - wx * wx / n
            cxy = _window(totals, i, _XY, BETA_WINDOW) - wx * wy / n
            cyy = _window(totals, i, _YY, BETA_WINDOW) - wy * wy / n
            if cxx > 0:
                out[8][t] = cxy / cxx
                if n > 2:
                    out[9][t] = math.sqrt(max(cyy - cxy * cxy / cxx, 0.0) / (n - 2))

        if streak_dv >= MONTH:
            mean = _window(totals, i, _DOLVOL, MONTH) / MONTH
            out[10][t] = math.log(mean) if mean > 0 else math.nan
            out[11][t] = _std(dv, t, MONTH)
        else:
            out[10][t] = out[11][t] = math.nan
        n_traded = _window(totals, i, _N_ILL, MONTH)
        out[12][t] = (
            _window(totals, i, _ILL, MONTH) / n_traded if n_traded >= ILL_MIN_SESSIONS else math.nan
        )
        out[13][t] = _window(totals, i, _N_ZERO, MONTH) if streak_volume >= MONTH else math.nan
        out[16][t] = (
            _window(totals, i, _SPREAD, MONTH) / MONTH if streak_spread >= MONTH else math.nan
        )

        # Shares outstanding: the last positive figure, SHARES_MAX_AGE sessions at most.
        if shares[t] > 0:
            last_shares, last_at = shares[t], i
        known = last_shares if i - last_at <= SHARES_MAX_AGE else math.nan
        turnover[i] = adj_volume[t] / known
        streak_turnover = streak_turnover + 1 if not math.isnan(turnover[i]) else 0

        base = _full_mean(totals, i, HALF_YEAR)
        if not math.isnan(known):
            out[14][t] = MONTH * _full_mean(totals, i, TURN_SESSIONS) / known
        else:
            out[14][t] = _full_mean(totals, i, MONTH) / base if base > 0 else math.nan
        if streak_turnover >= MONTH:
            out[15][t] = _std(turnover, i, MONTH)
        elif base > 0 and i + 1 >= MONTH and _window(totals, i, _N_VOLUME, MONTH) == MONTH:
            out[15][t] = _std(adj_volume, t, MONTH) / base
        else:
            out[15][t] = math.nan
        if not math.isnan(known):
            size = abs(close[t]) * known
        else:
            n_year = _window(totals, i, _N_VOLUME, YEAR)
            mean_volume = (
                _window(totals, i, _VOLUME, YEAR) / n_year
                if n_year >= MVEL1_MIN_SESSIONS
                else math.nan
            )
            size = close[t] * mean_volume
        out[17][t] = math.log(size) if size > 0 else math.nan
        for j in range(len(out)):
            out[j][t] = _finite(out[j][t])


@numba.njit(cache=True, parallel=True)
def _all_tickers(starts, x, out):
    for k in numba.prange(len(starts) - 1):
        a, b = starts[k], starts[k + 1]
        totals = np.empty((b - a, 14))
        growth = np.empty((b - a, len(_GROWTH)))
        turnover = np.empty(b - a)
        _one_ticker(a, b, x, out, totals, growth, turnover)
    return out


def kernel_values(frame: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame | None:
    """Return the characteristics `names` of `frame` (sorted by ticker and date), or None.

    None when the kernel cannot stand in for the expressions: a name it does not compute, an
    input column missing (the expressions then raise the error naming it) or holding NaN (which
    the expressions treat as a value, the kernel as missing).
    """
    needed = {column for name in names for column in KERNEL_INPUTS.get(name, ("?",))}
    if not names or not needed <= set(frame.columns):
        return None
    columns = []
    for column in _COLUMNS:
        if column not in needed:
            columns.append(np.full(frame.height, np.nan))
            continue
        values = frame[column].cast(pl.Float64)
        if values.is_nan().any():
            return None
        columns.append(values.to_numpy())
    for column in columns:
        # One array type for every call (a zero-copy column is read-only, a copied one not), so
        # numba compiles, or loads from its cache, a single signature.
        column.flags.writeable = False
    ticker = frame["ticker"]
    firsts = np.flatnonzero((ticker != ticker.shift(1)).fill_null(True).to_numpy())
    starts = np.append(firsts, frame.height).astype(np.int64)
    # One array per characteristic, never rows of one 2-D array: a column the caller keeps
    # would keep every other characteristic's memory alive with it.
    out = tuple(np.empty(frame.height) for _ in range(_N_OUTPUTS))
    _all_tickers(starts, tuple(columns), out)
    order = list(KERNEL_INPUTS)
    return pl.DataFrame(
        [pl.Series(name, out[order.index(name)], nan_to_null=True) for name in names]
    )
