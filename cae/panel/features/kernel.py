"""The per-ticker characteristics in one compiled pass over each ticker's rows (numba).

The Polars expressions of `momentum.py`, `risk.py` and `liquidity.py` define the
characteristics; this kernel computes the same values faster for `compute_daily`: one loop per
ticker keeps every running total, streak and window in registers, where the expressions make a
whole-column pass (a 54 MB column on the benchmark) per helper. Same semantics: windows count
the ticker's own sessions, `min_samples` and masks as in `windows.py`, a non-finite result is
null. Sums are differences of the same sequential running totals, so most values are bit for
bit the expressions'; standard deviations are one pass of shifted sums within the window and
logs and exponentials may round differently, so `tests/test_features.py` allows 1e-12 relative.

A value at row t reads rows a..t of its ticker only (a: the ticker's first row), so another
ticker's rows or a later row cannot change it. Tickers run in parallel on numba's threads, in
blocks that each copy a ticker's input rows (nulls as NaN) into one scratch array; the input
columns are read in place (`_buffers`), never copied whole.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numba
import numpy as np
import polars as pl

from cae.panel.features.liquidity import (
    ILL_MIN_SESSIONS,
    MVEL1_MIN_SESSIONS,
    SHARES_MAX_AGE,
    TURN_SESSIONS,
)
from cae.panel.features.risk import BETA_MIN_SESSIONS, BETA_WINDOW
from cae.panel.features.windows import HALF_YEAR, MONTH, WEEK, YEAR

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
def _month_stats(ret, dv, volumes, i):
    # Over the MONTH sessions ending at i: the largest return and the standard deviations of
    # ret, dv and volumes, in one pass (independent sums, so the CPU overlaps them). Each is
    # shifted by its value at i: an unchanging window gives exactly 0, and as the value at i
    # is in the window, the shifted sums cancel by at most a factor of about MONTH, so rounding
    # stays near 1e-14 relative.
    largest = ret[i]
    r_sum = r_squares = d_sum = d_squares = v_sum = v_squares = 0.0
    for k in range(i - MONTH + 1, i + 1):
        largest = max(largest, ret[k])
        r = ret[k] - ret[i]
        d = dv[k] - dv[i]
        v = volumes[k] - volumes[i]
        r_sum += r
        r_squares += r * r
        d_sum += d
        d_squares += d * d
        v_sum += v
        v_squares += v * v
    return largest, _std(r_sum, r_squares), _std(d_sum, d_squares), _std(v_sum, v_squares)


@numba.njit(cache=True, inline="always")
def _std(shifted: float, squares: float) -> float:
    return math.sqrt(max(squares - shifted * shifted / MONTH, 0.0) / (MONTH - 1))


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


@numba.njit(cache=True, inline="always")
def _put(column: np.ndarray, t: int, value: float) -> None:
    # A non-finite result (a log of zero, an overflow) is missing, as in the expressions.
    column[t] = value if math.isfinite(value) else math.nan


@numba.njit(cache=True)
def _load(values, valid, a, b, into):
    # The ticker's rows a..b-1 of one input column, a null as NaN. An empty `values` is a
    # column the caller did not need, an empty `valid` a column without nulls.
    if len(values) == 0:
        into[:] = math.nan
        return
    for i in range(b - a):
        into[i] = values[a + i] if len(valid) == 0 or valid[a + i] else math.nan


@numba.njit(cache=True)
def _one_ticker(x, t0, out, totals, growth, turnover):
    # `x` holds the ticker's own rows (row i is the output row t0 + i), one input per row of x.
    ret, mkt, dv, volume, adj_volume = x[0], x[1], x[2], x[3], x[4]
    shares, close, high, low = x[5], x[6], x[7], x[8]
    lr = sx = sy = sxx = sxy = syy = s_dv = s_ill = s_spread = s_volume = 0.0
    n_pairs = n_ill = n_zero = n_volume = 0
    streak_ret = streak_dv = streak_volume = streak_spread = streak_turnover = 0
    last_shares, last_at = math.nan, -SHARES_MAX_AGE - 1
    prev_range = math.nan  # log(high / low) of the previous session, when it has a range
    for i in range(len(ret)):
        t = t0 + i
        r, m, d = ret[i], mkt[i], dv[i]
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
        if not math.isnan(volume[i]):
            streak_volume += 1
            n_zero += volume[i] == 0
        else:
            streak_volume = 0
        if not math.isnan(adj_volume[i]):
            s_volume += adj_volume[i]
            n_volume += 1
        h, lo = high[i], low[i]
        has_range = lo > 0 and h >= lo
        this_range = math.log(h / lo) if has_range else math.nan
        if has_range and not math.isnan(prev_range):
            ph, pl_ = high[i - 1], low[i - 1]
            beta = this_range**2 + prev_range**2
            gamma = math.log((h if h > ph else ph) / (lo if lo < pl_ else pl_)) ** 2
            alpha = (math.sqrt(2 * beta) - math.sqrt(beta)) / _CS_DENOMINATOR - math.sqrt(
                gamma / _CS_DENOMINATOR
            )
            e_alpha = math.exp(alpha)
            spread = 2 * (e_alpha - 1) / (1 + e_alpha)
            s_spread += spread if spread > 0 else 0.0
            streak_spread += 1
        else:
            streak_spread = 0
        prev_range = this_range
        row = totals[i]
        row[_LOG_GROWTH], row[_X], row[_Y], row[_XX], row[_XY], row[_YY] = lr, sx, sy, sxx, sxy, syy
        row[_DOLVOL], row[_ILL], row[_SPREAD] = s_dv, s_ill, s_spread
        row[_N_PAIRS], row[_N_ILL], row[_N_ZERO] = n_pairs, n_ill, n_zero
        row[_VOLUME], row[_N_VOLUME] = s_volume, n_volume

        # growth[i, j]: the compounded return over the _GROWTH[j] sessions ending at i.
        for j in range(len(_GROWTH)):
            w = _GROWTH[j]
            growth[i, j] = (
                math.exp(_window(totals, i, _LOG_GROWTH, w)) - 1 if streak_ret >= w else math.nan
            )
        _put(out[0], t, growth[i, 0])
        _put(out[1], t, growth[i - MONTH, 1] if i >= MONTH else math.nan)
        _put(out[2], t, growth[i - MONTH, 2] if i >= MONTH else math.nan)
        _put(out[3], t, growth[i - YEAR, 3] if i >= YEAR else math.nan)
        _put(out[4], t, growth[i, 4] - growth[i - HALF_YEAR, 4] if i >= HALF_YEAR else math.nan)
        _put(out[5], t, growth[i, 5])
        out[8][t] = out[9][t] = math.nan
        n = _window(totals, i, _N_PAIRS, BETA_WINDOW)
        if n >= BETA_MIN_SESSIONS:
            wx, wy = _window(totals, i, _X, BETA_WINDOW), _window(totals, i, _Y, BETA_WINDOW)
            cxx = _window(totals, i, _XX, BETA_WINDOW) - wx * wx / n
            cxy = _window(totals, i, _XY, BETA_WINDOW) - wx * wy / n
            cyy = _window(totals, i, _YY, BETA_WINDOW) - wy * wy / n
            if cxx > 0:
                _put(out[8], t, cxy / cxx)
                if n > 2:
                    _put(out[9], t, math.sqrt(max(cyy - cxy * cxy / cxx, 0.0) / (n - 2)))

        if streak_dv >= MONTH:
            mean = _window(totals, i, _DOLVOL, MONTH) / MONTH
            _put(out[10], t, math.log(mean) if mean > 0 else math.nan)
        else:
            out[10][t] = math.nan
        n_traded = _window(totals, i, _N_ILL, MONTH)
        illiquidity = _window(totals, i, _ILL, MONTH) / n_traded if n_traded else math.nan
        _put(out[12], t, illiquidity if n_traded >= ILL_MIN_SESSIONS else math.nan)
        _put(out[13], t, _window(totals, i, _N_ZERO, MONTH) if streak_volume >= MONTH else math.nan)
        _put(
            out[16],
            t,
            _window(totals, i, _SPREAD, MONTH) / MONTH if streak_spread >= MONTH else math.nan,
        )

        # Shares outstanding: the last positive figure, SHARES_MAX_AGE sessions at most.
        if shares[i] > 0:
            last_shares, last_at = shares[i], i
        known = last_shares if i - last_at <= SHARES_MAX_AGE else math.nan
        turnover[i] = adj_volume[i] / known
        streak_turnover = streak_turnover + 1 if not math.isnan(turnover[i]) else 0

        base = _full_mean(totals, i, HALF_YEAR)
        if not math.isnan(known):
            _put(out[14], t, MONTH * _full_mean(totals, i, TURN_SESSIONS) / known)
        else:
            _put(out[14], t, _full_mean(totals, i, MONTH) / base if base > 0 else math.nan)
        # The month's maximum return and standard deviations (retvol, std_dolvol, std_turn from
        # turnover or the volume proxy) in one pass over the window.
        volume_scale = math.nan
        if streak_turnover >= MONTH:
            volume_scale = 1.0
        elif base > 0 and i + 1 >= MONTH and _window(totals, i, _N_VOLUME, MONTH) == MONTH:
            volume_scale = base
        if i + 1 >= MONTH:
            volumes = turnover if streak_turnover >= MONTH else adj_volume
            largest, std_ret, std_dv, std_volume = _month_stats(ret, dv, volumes, i)
        else:
            largest = std_ret = std_dv = std_volume = math.nan
        if streak_ret >= MONTH:
            _put(out[6], t, largest)
            _put(out[7], t, std_ret)
        else:
            out[6][t] = out[7][t] = math.nan
        _put(out[11], t, std_dv if streak_dv >= MONTH else math.nan)
        _put(out[15], t, std_volume / volume_scale)
        if not math.isnan(known):
            size = abs(close[i]) * known
        else:
            n_year = _window(totals, i, _N_VOLUME, YEAR)
            mean_volume = (
                _window(totals, i, _VOLUME, YEAR) / n_year
                if n_year >= MVEL1_MIN_SESSIONS
                else math.nan
            )
            size = close[i] * mean_volume
        _put(out[17], t, math.log(size) if size > 0 else math.nan)


@numba.njit(cache=True)
def _empty_columns(n_rows: int, n_columns: int) -> list:
    # Allocated by numba (malloc), not numpy: numpy asks for transparent huge pages on large
    # arrays, and on a VM that returns free memory to its host (free page reporting), writing
    # memory no process touched lately took 0.8-2.2 s per GB in huge pages against 0.4 s in
    # 4 KB pages here (benchmarks/fresh_memory.py). The outputs are the gigabyte the kernel
    # writes fresh on the benchmark.
    return [np.empty(n_rows) for _ in range(n_columns)]


@numba.njit(cache=True, parallel=True)
def _all_tickers(starts, values, valid, out, n_blocks):
    # Tickers in `n_blocks` contiguous blocks: each block allocates its scratch arrays once,
    # for its longest ticker (fresh memory is slow to fault in on a VM).
    n_tickers = len(starts) - 1
    for block in numba.prange(n_blocks):
        first, stop = block * n_tickers // n_blocks, (block + 1) * n_tickers // n_blocks
        longest = 0
        for k in range(first, stop):
            longest = max(longest, starts[k + 1] - starts[k])
        scratch = np.empty(len(values) * longest)
        totals = np.empty((longest, 14))
        growth = np.empty((longest, len(_GROWTH)))
        turnover = np.empty(longest)
        for k in range(first, stop):
            a, b = starts[k], starts[k + 1]
            rows = scratch[: len(values) * (b - a)].reshape((len(values), b - a))
            for c in range(len(values)):
                _load(values[c], valid[c], a, b, rows[c])
            _one_ticker(rows, a, out, totals, growth, turnover)
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
    values, valid = [], []
    for column in _COLUMNS:
        series = frame[column].cast(pl.Float64) if column in needed else None
        if series is not None and series.is_nan().any():
            return None
        value, mask = _buffers(series)
        values.append(value)
        valid.append(mask)
    ticker = frame["ticker"]
    firsts = np.flatnonzero((ticker != ticker.shift(1)).fill_null(True).to_numpy())
    starts = np.append(firsts, frame.height).astype(np.int64)
    # One array per characteristic, never rows of one 2-D array: a column the caller keeps
    # would keep every other characteristic's memory alive with it.
    out = tuple(_empty_columns(frame.height, _N_OUTPUTS))
    n_blocks = min(len(starts) - 1, 8 * numba.get_num_threads())  # a few blocks per thread
    _all_tickers(starts, tuple(values), tuple(valid), out, n_blocks)
    order = list(KERNEL_INPUTS)
    return pl.DataFrame(
        [pl.Series(name, out[order.index(name)], nan_to_null=True) for name in names]
    )


def _buffers(series: pl.Series | None) -> tuple[np.ndarray, np.ndarray]:
    """Return a Float64 column's values and validity (empty: no nulls) without copying values.

    `to_numpy` would copy a column with nulls into a new NaN-filled array (54 MB a column on
    the benchmark); the kernel reads the Arrow values buffer and the null mask instead. None
    (a column the caller does not need) gives two empty arrays.
    """
    if series is None:
        value, mask = np.empty(0), np.empty(0, dtype=np.bool_)
    elif not series.has_nulls():
        value, mask = series.to_numpy(), np.empty(0, dtype=np.bool_)
    else:
        array = series.rechunk().to_arrow()
        data = np.frombuffer(array.buffers()[1], dtype=np.float64)
        value = data[array.offset : array.offset + len(array)]
        mask = series.is_not_null().to_numpy()
    # One array type for every call (a zero-copy column is read-only, a copied one not), so
    # numba compiles, or loads from its cache, a single signature.
    value.flags.writeable = False
    mask.flags.writeable = False
    return value, mask
