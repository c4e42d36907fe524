"""The per-ticker characteristics compiled (numba), one function per family and ticker.

The registered Polars expressions (`momentum.py`, `risk.py`, `liquidity.py`) define the
characteristics; this kernel computes the same values faster for `compute_daily`: each family's
function loops over one ticker's rows keeping its running totals, streaks and windows in
registers, where the expressions make a whole-column pass (a 54 MB column on the benchmark)
per helper, and writes each output by name (`out.mom1m`). Same semantics: windows count the
ticker's own sessions, `min_samples` and masks as in `windows.py`, a non-finite result is
null. Sums are differences of the same sequential running totals, so most values are bit for
bit the expressions'; standard deviations are one pass of shifted sums within the window and
logs and exponentials may round differently, so `tests/panel/features/test_features.py` allows
1e-12 relative.

A value at row t reads rows a..t of its ticker only (a: the ticker's first row), so another
ticker's rows or a later row cannot change it. Tickers run in parallel on numba's threads, in
blocks that each copy a ticker's input rows (nulls as NaN) into one scratch array; the input
columns are read in place (`_buffers`), never copied whole.

Adding a characteristic to the kernel: compute it in its family's function, write it to
`out.<name>`, and add the name to `KERNEL_NAMES`; it reads the inputs its registry entry lists.
"""

from __future__ import annotations

import math
from collections import namedtuple
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
from cae.panel.features.registry import REGISTRY
from cae.panel.features.risk import BETA_MIN_SESSIONS, BETA_WINDOW
from cae.panel.features.windows import HALF_YEAR, MONTH, WEEK, YEAR

__all__ = ["KERNEL_NAMES", "kernel_values"]

# The registered characteristics the kernel computes, by family; its output columns by name.
# Spelt out here, not read from the registry's order: numba's cache of the compiled kernel is
# keyed on this file alone, so a layout read from another file could change under it.
KERNEL_NAMES = (
    *("mom1m", "mom6m", "mom12m", "mom36m", "chmom", "strev", "maxret", "retvol"),
    *("beta", "idiovol"),
    *("dolvol", "std_dolvol", "ill", "zerotrade", "turn", "std_turn", "baspread", "mvel1"),
)
_Outputs = namedtuple("_Outputs", KERNEL_NAMES)
# The base columns the kernel can read, one row each of a ticker's scratch array: x[_COLUMN.ret].
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
_COLUMN = namedtuple("_Column", _COLUMNS)(*range(len(_COLUMNS)))
# Running totals and window values kept per session, one column each of the `totals` scratch
# array: totals[i, _TOTAL.x].
_TOTALS = (
    *("log_growth", "mom6m_return", "mom12m_return", "mom36m_return", "half_year_return"),
    *("x", "y", "xx", "xy", "yy", "n_pairs"),
    *("dollar_volume", "ill", "n_ill", "n_zero", "volume", "n_volume", "spread"),
)
_TOTAL = namedtuple("_Total", _TOTALS)(*range(len(_TOTALS)))
_CS_DENOMINATOR = 3 - 2 * math.sqrt(2)  # Corwin & Schultz (2012), eq. 18


@numba.njit(cache=True, inline="always")
def _month_std(values: np.ndarray, i: int) -> float:
    # The std (ddof 1) over the MONTH sessions ending at i, in one pass of values shifted by
    # their value at i: an unchanging window gives exactly 0, and as the value at i is in the
    # window, the shifted sums cancel by at most a factor of about MONTH, so rounding stays
    # near 1e-14 relative.
    shifted = squares = 0.0
    for k in range(i - MONTH + 1, i + 1):
        v = values[k] - values[i]
        shifted += v
        squares += v * v
    return _std(shifted, squares)


@numba.njit(cache=True, inline="always")
def _month_max(values: np.ndarray, i: int) -> float:
    largest = values[i]
    for k in range(i - MONTH + 1, i + 1):
        largest = max(largest, values[k])
    return largest


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
    if i + 1 >= window and _window(totals, i, _TOTAL.n_volume, window) == window:
        return _window(totals, i, _TOTAL.volume, window) / window
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


@numba.njit(cache=True, inline="always")
def _compounded(totals: np.ndarray, i: int, streak: int, window: int) -> float:
    # The compounded return over the `window` sessions ending at i; NaN unless all have one.
    if streak < window:
        return math.nan
    return math.exp(_window(totals, i, _TOTAL.log_growth, window)) - 1


@numba.njit(cache=True, inline="always")
def _lagged(totals: np.ndarray, i: int, column: int, sessions: int) -> float:
    return totals[i - sessions, column] if i >= sessions else math.nan


@numba.njit(cache=True)
def _momentum(ret, t0, out, totals):
    # momentum.py: compounded returns (`cumulative_return`), maxret and retvol. Skip-month
    # windows read the return over their window that ended `skip` sessions earlier.
    log_growth, streak = 0.0, 0
    for i in range(len(ret)):
        t = t0 + i
        if math.isnan(ret[i]):
            streak = 0
        else:
            log_growth += math.log1p(ret[i])
            streak += 1
        row = totals[i]
        row[_TOTAL.log_growth] = log_growth
        row[_TOTAL.mom6m_return] = _compounded(totals, i, streak, HALF_YEAR - MONTH)
        row[_TOTAL.mom12m_return] = _compounded(totals, i, streak, YEAR - MONTH)
        row[_TOTAL.mom36m_return] = _compounded(totals, i, streak, 2 * YEAR)
        row[_TOTAL.half_year_return] = _compounded(totals, i, streak, HALF_YEAR)
        _put(out.mom1m, t, _compounded(totals, i, streak, MONTH))
        _put(out.mom6m, t, _lagged(totals, i, _TOTAL.mom6m_return, MONTH))
        _put(out.mom12m, t, _lagged(totals, i, _TOTAL.mom12m_return, MONTH))
        _put(out.mom36m, t, _lagged(totals, i, _TOTAL.mom36m_return, YEAR))
        earlier = _lagged(totals, i, _TOTAL.half_year_return, HALF_YEAR)
        _put(out.chmom, t, row[_TOTAL.half_year_return] - earlier)
        _put(out.strev, t, _compounded(totals, i, streak, WEEK))
        if streak >= MONTH:
            _put(out.maxret, t, _month_max(ret, i))
            _put(out.retvol, t, _month_std(ret, i))
        else:
            out.maxret[t] = out.retvol[t] = math.nan


@numba.njit(cache=True)
def _risk(ret, mkt_ret, t0, out, totals):
    # risk.py: beta and idiovol from windowed sums of the (mkt_ret, ret) pairs.
    sx = sy = sxx = sxy = syy = 0.0
    n_pairs = 0
    for i in range(len(ret)):
        t = t0 + i
        r, m = ret[i], mkt_ret[i]
        if not math.isnan(r) and not math.isnan(m):
            sx += m
            sy += r
            sxx += m * m
            sxy += m * r
            syy += r * r
            n_pairs += 1
        row = totals[i]
        row[_TOTAL.x], row[_TOTAL.y], row[_TOTAL.n_pairs] = sx, sy, n_pairs
        row[_TOTAL.xx], row[_TOTAL.xy], row[_TOTAL.yy] = sxx, sxy, syy
        out.beta[t] = out.idiovol[t] = math.nan
        n = _window(totals, i, _TOTAL.n_pairs, BETA_WINDOW)
        if n >= BETA_MIN_SESSIONS:
            wx = _window(totals, i, _TOTAL.x, BETA_WINDOW)
            wy = _window(totals, i, _TOTAL.y, BETA_WINDOW)
            cxx = _window(totals, i, _TOTAL.xx, BETA_WINDOW) - wx * wx / n
            cxy = _window(totals, i, _TOTAL.xy, BETA_WINDOW) - wx * wy / n
            cyy = _window(totals, i, _TOTAL.yy, BETA_WINDOW) - wy * wy / n
            if cxx > 0:
                _put(out.beta, t, cxy / cxx)
                if n > 2:
                    _put(out.idiovol, t, math.sqrt(max(cyy - cxy * cxy / cxx, 0.0) / (n - 2)))


@numba.njit(cache=True)
def _liquidity_volume(ret, dollar_volume, volume, t0, out, totals):
    # liquidity.py: dolvol, std_dolvol, ill and zerotrade.
    s_dv = s_ill = 0.0
    n_ill = n_zero = streak_dv = streak_volume = 0
    for i in range(len(ret)):
        t = t0 + i
        d = dollar_volume[i]
        if not math.isnan(d):
            s_dv += d
            streak_dv += 1
        else:
            streak_dv = 0
        if not math.isnan(ret[i]) and d > 0:
            s_ill += abs(ret[i]) / d
            n_ill += 1
        if not math.isnan(volume[i]):
            streak_volume += 1
            n_zero += volume[i] == 0
        else:
            streak_volume = 0
        row = totals[i]
        row[_TOTAL.dollar_volume], row[_TOTAL.ill] = s_dv, s_ill
        row[_TOTAL.n_ill], row[_TOTAL.n_zero] = n_ill, n_zero
        if streak_dv >= MONTH:
            mean = _window(totals, i, _TOTAL.dollar_volume, MONTH) / MONTH
            _put(out.dolvol, t, math.log(mean) if mean > 0 else math.nan)
            _put(out.std_dolvol, t, _month_std(dollar_volume, i))
        else:
            out.dolvol[t] = out.std_dolvol[t] = math.nan
        n_traded = _window(totals, i, _TOTAL.n_ill, MONTH)
        illiquidity = _window(totals, i, _TOTAL.ill, MONTH) / n_traded if n_traded else math.nan
        _put(out.ill, t, illiquidity if n_traded >= ILL_MIN_SESSIONS else math.nan)
        zeros = _window(totals, i, _TOTAL.n_zero, MONTH)
        _put(out.zerotrade, t, zeros if streak_volume >= MONTH else math.nan)


@numba.njit(cache=True)
def _liquidity_shares(adj_volume, adj_shares_out, adj_close, t0, out, totals, turnover):
    # liquidity.py: turn, std_turn and mvel1, from shares outstanding where known (the last
    # positive figure, SHARES_MAX_AGE sessions at most), else from the volume proxies.
    s_volume = 0.0
    n_volume = streak_turnover = 0
    last_shares, last_at = math.nan, -SHARES_MAX_AGE - 1
    for i in range(len(adj_volume)):
        t = t0 + i
        if not math.isnan(adj_volume[i]):
            s_volume += adj_volume[i]
            n_volume += 1
        totals[i, _TOTAL.volume], totals[i, _TOTAL.n_volume] = s_volume, n_volume
        if adj_shares_out[i] > 0:
            last_shares, last_at = adj_shares_out[i], i
        known = last_shares if i - last_at <= SHARES_MAX_AGE else math.nan
        turnover[i] = adj_volume[i] / known
        streak_turnover = streak_turnover + 1 if not math.isnan(turnover[i]) else 0

        base = _full_mean(totals, i, HALF_YEAR)
        if not math.isnan(known):
            _put(out.turn, t, MONTH * _full_mean(totals, i, TURN_SESSIONS) / known)
        else:
            _put(out.turn, t, _full_mean(totals, i, MONTH) / base if base > 0 else math.nan)
        if streak_turnover >= MONTH:
            _put(out.std_turn, t, _month_std(turnover, i))
        elif base > 0 and i + 1 >= MONTH and _window(totals, i, _TOTAL.n_volume, MONTH) == MONTH:
            _put(out.std_turn, t, _month_std(adj_volume, i) / base)
        else:
            out.std_turn[t] = math.nan
        if not math.isnan(known):
            size = abs(adj_close[i]) * known
        else:
            n_year = _window(totals, i, _TOTAL.n_volume, YEAR)
            mean_volume = (
                _window(totals, i, _TOTAL.volume, YEAR) / n_year
                if n_year >= MVEL1_MIN_SESSIONS
                else math.nan
            )
            size = adj_close[i] * mean_volume
        _put(out.mvel1, t, math.log(size) if size > 0 else math.nan)


@numba.njit(cache=True)
def _liquidity_spread(adj_high, adj_low, t0, out, totals):
    # liquidity.py: baspread, the mean Corwin-Schultz two-day estimate.
    s_spread = 0.0
    streak = 0
    prev_range = math.nan  # log(high / low) of the previous session, when it has a range
    for i in range(len(adj_high)):
        t = t0 + i
        h, lo = adj_high[i], adj_low[i]
        has_range = lo > 0 and h >= lo
        this_range = math.log(h / lo) if has_range else math.nan
        if has_range and not math.isnan(prev_range):
            ph, pl_ = adj_high[i - 1], adj_low[i - 1]
            beta = this_range**2 + prev_range**2
            gamma = math.log((h if h > ph else ph) / (lo if lo < pl_ else pl_)) ** 2
            alpha = (math.sqrt(2 * beta) - math.sqrt(beta)) / _CS_DENOMINATOR - math.sqrt(
                gamma / _CS_DENOMINATOR
            )
            e_alpha = math.exp(alpha)
            spread = 2 * (e_alpha - 1) / (1 + e_alpha)
            s_spread += spread if spread > 0 else 0.0
            streak += 1
        else:
            streak = 0
        prev_range = this_range
        totals[i, _TOTAL.spread] = s_spread
        mean = _window(totals, i, _TOTAL.spread, MONTH) / MONTH if streak >= MONTH else math.nan
        _put(out.baspread, t, mean)


@numba.njit(cache=True)
def _one_ticker(x, t0, out, totals, turnover):
    # `x` holds the ticker's own rows (row i is the output row t0 + i), one input per row of x.
    ret = x[_COLUMN.ret]
    _momentum(ret, t0, out, totals)
    _risk(ret, x[_COLUMN.mkt_ret], t0, out, totals)
    _liquidity_volume(ret, x[_COLUMN.dollar_volume], x[_COLUMN.volume], t0, out, totals)
    _liquidity_shares(
        x[_COLUMN.adj_volume],
        x[_COLUMN.adj_shares_out],
        x[_COLUMN.adj_close],
        *(t0, out, totals, turnover),
    )
    _liquidity_spread(x[_COLUMN.adj_high], x[_COLUMN.adj_low], t0, out, totals)


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
        totals = np.empty((longest, len(_TOTALS)))
        turnover = np.empty(longest)
        for k in range(first, stop):
            a, b = starts[k], starts[k + 1]
            rows = scratch[: len(values) * (b - a)].reshape((len(values), b - a))
            for c in range(len(values)):
                _load(values[c], valid[c], a, b, rows[c])
            _one_ticker(rows, a, out, totals, turnover)
    return out


def kernel_values(frame: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame | None:
    """Return the characteristics `names` of `frame` (sorted by ticker and date), or None.

    None when the kernel cannot stand in for the expressions: a name it does not compute, an
    input column missing (the expressions then raise the error naming it) or holding NaN (which
    the expressions treat as a value, the kernel as missing).
    """
    if not names or not set(names) <= set(KERNEL_NAMES):
        return None
    needed = {column for name in names for column in REGISTRY[name].inputs}
    if not needed <= set(frame.columns):
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
    out = _Outputs(*_empty_columns(frame.height, len(KERNEL_NAMES)))
    n_blocks = min(len(starts) - 1, 8 * numba.get_num_threads())  # a few blocks per thread
    _all_tickers(starts, tuple(values), tuple(valid), out, n_blocks)
    return pl.DataFrame([pl.Series(name, getattr(out, name), nan_to_null=True) for name in names])


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
