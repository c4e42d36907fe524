"""Trading and liquidity characteristics from daily volume and the high-low range.

Dollar volume is raw close x raw volume, which a split leaves unchanged. Share volume is
`adj_volume`, expressed in the ticker's share units as of its first session (point in time:
only splits already done divide it), so a split does not look like a surge in turnover.
Shares outstanding (`adj_shares_out`, adjusted the same way) feed `turn`, `std_turn` and
`mvel1` per ticker and date when known (Green, Hand & Zhang 2017 definitions); otherwise they
use the volume proxies named in `TURN_SOURCE` and `MVEL1_SOURCE`. `uses_shares` tells which
one a row used (counted per date in `characteristic_sources`, summarised in `panel_meta`).
"""

from __future__ import annotations

import math

import polars as pl

from cae.panel.features.registry import characteristic
from cae.panel.features.windows import (
    HALF_YEAR,
    MONTH,
    YEAR,
    full_window,
    lagged,
    per_ticker,
    positive_log,
    trailing_count,
    trailing_mean,
    trailing_std,
)

__all__ = ["MVEL1_SOURCE", "PROXY_SOURCES", "SHARES_SOURCE", "TURN_SOURCE", "uses_shares"]

SHARES_SOURCE = "shares_out"
TURN_SOURCE = "volume_21d_over_trailing_126d_mean"  # the proxy without shares outstanding
MVEL1_SOURCE = "log_close_times_mean_volume_252d"  # the proxy without shares outstanding
# A shares_out figure stays valid for 63 sessions (a quarter): a quarterly report lasts until
# the next one; an older figure is unknown, and the row falls back to the proxy.
SHARES_MAX_AGE = 3 * MONTH
TURN_SESSIONS = 3 * MONTH  # GHZ turn: mean monthly volume over the last 3 months
ILL_MIN_SESSIONS = 15  # sessions with trading needed among the 21; zero-volume days are skipped
MVEL1_MIN_SESSIONS = HALF_YEAR
_CS_DENOMINATOR = 3 - 2 * math.sqrt(2)  # Corwin & Schultz (2012), eq. 18


@characteristic("dolvol", window=MONTH, inputs=("dollar_volume",))
def dolvol() -> pl.Expr:
    """Log of mean daily dollar volume over the last 21 sessions."""
    return positive_log(trailing_mean(pl.col("dollar_volume"), MONTH))


@characteristic("std_dolvol", window=MONTH, inputs=("dollar_volume",))
def std_dolvol() -> pl.Expr:
    """Return the std of daily dollar volume over the last 21 sessions."""
    return trailing_std(pl.col("dollar_volume"), MONTH)


@characteristic("ill", window=MONTH, inputs=("ret", "dollar_volume"))
def ill() -> pl.Expr:
    """Amihud (2002) illiquidity: mean of |ret| / dollar volume over the last 21 sessions."""
    ratio = pl.when(pl.col("dollar_volume") > 0).then(pl.col("ret").abs() / pl.col("dollar_volume"))
    return trailing_mean(ratio, MONTH, ILL_MIN_SESSIONS)


@characteristic("zerotrade", window=MONTH, inputs=("volume",))
def zerotrade() -> pl.Expr:
    """Count the zero-volume sessions among the last 21."""
    zero = trailing_count(pl.col("volume") == 0, MONTH)
    return pl.when(full_window(pl.col("volume").is_not_null(), MONTH)).then(zero.cast(pl.Float64))


def _known_shares() -> pl.Expr:
    # The last positive figure at or before d, in first-session share units like adj_volume;
    # carried forward SHARES_MAX_AGE sessions at most. Evaluated inside per_ticker.
    shares = pl.when(pl.col("adj_shares_out") > 0).then(pl.col("adj_shares_out"))
    return shares.forward_fill(limit=SHARES_MAX_AGE)


def _daily_turnover() -> pl.Expr:
    return pl.col("adj_volume") / _known_shares()


def _shares_known() -> pl.Expr:
    # turn and mvel1 use shares outstanding on every date a figure is known.
    return _known_shares().is_not_null()


def _std_turn_uses_shares() -> pl.Expr:
    # Every session of the month needs a turnover, else the std would mix two definitions.
    known = _daily_turnover().is_not_null().cast(pl.Float64)
    return known.rolling_sum(MONTH, min_samples=MONTH) == MONTH


_USES_SHARES = {
    "turn": _shares_known,
    "std_turn": _std_turn_uses_shares,
    "mvel1": _shares_known,
}
PROXY_SOURCES = {"turn": TURN_SOURCE, "std_turn": TURN_SOURCE, "mvel1": MVEL1_SOURCE}


def uses_shares(name: str) -> pl.Expr:
    """Return whether each row's `name` (turn, std_turn or mvel1) uses shares outstanding.

    False means the volume proxy of `PROXY_SOURCES[name]`. Evaluated like the characteristic:
    on the daily base rows sorted by ticker and date, from the ticker's data up to d.
    """
    return per_ticker(_USES_SHARES[name]().fill_null(False))


@characteristic("turn", window=HALF_YEAR, inputs=("adj_volume", "adj_shares_out"))
def turn() -> pl.Expr:
    """Share turnover: mean monthly volume over 3 months / shares outstanding (else a proxy).

    GHZ turn with shares known at d: 21 x mean share volume over t-62..t / shares at d.
    Proxy: mean share volume over t-20..t / mean over t-125..t (relative turnover).
    """
    monthly_volume = MONTH * pl.col("adj_volume").rolling_mean(
        TURN_SESSIONS, min_samples=TURN_SESSIONS
    )
    recent = pl.col("adj_volume").rolling_mean(MONTH, min_samples=MONTH)
    base = pl.col("adj_volume").rolling_mean(HALF_YEAR, min_samples=HALF_YEAR)
    proxy = pl.when(base > 0).then(recent / base)
    return per_ticker(
        pl.when(_shares_known()).then(monthly_volume / _known_shares()).otherwise(proxy)
    )


@characteristic("std_turn", window=HALF_YEAR, inputs=("adj_volume", "adj_shares_out"))
def std_turn() -> pl.Expr:
    """Std of daily turnover (volume / shares outstanding) over 21 sessions (else a proxy).

    Proxy: std of daily share volume over t-20..t / mean share volume over t-125..t.
    """
    from_shares = _daily_turnover().rolling_std(MONTH, min_samples=MONTH, ddof=1)
    spread = pl.col("adj_volume").rolling_std(MONTH, min_samples=MONTH, ddof=1)
    base = pl.col("adj_volume").rolling_mean(HALF_YEAR, min_samples=HALF_YEAR)
    proxy = pl.when(base > 0).then(spread / base)
    return per_ticker(pl.when(_std_turn_uses_shares()).then(from_shares).otherwise(proxy))


def _corwin_schultz_daily() -> tuple[pl.Expr, pl.Expr]:
    """Return the two-day spread estimate and where it is defined (the cheap condition)."""
    high, low = pl.col("adj_high"), pl.col("adj_low")
    prev_high, prev_low = lagged(high, 1), lagged(low, 1)
    beta = (high / low).log() ** 2 + (prev_high / prev_low).log() ** 2
    # when/then rather than max_horizontal: the same values, several times faster on long columns.
    two_day_high = pl.when(high > prev_high).then(high).otherwise(prev_high)
    two_day_low = pl.when(low < prev_low).then(low).otherwise(prev_low)
    gamma = (two_day_high / two_day_low).log() ** 2
    alpha = ((2 * beta).sqrt() - beta.sqrt()) / _CS_DENOMINATOR - (gamma / _CS_DENOMINATOR).sqrt()
    spread = 2 * (alpha.exp() - 1) / (1 + alpha.exp())
    valid = ((low > 0) & (prev_low > 0) & (high >= low) & (prev_high >= prev_low)).fill_null(False)
    # Negative two-day estimates are set to zero before averaging, as in Corwin & Schultz.
    return pl.when(valid).then(spread.clip(lower_bound=0.0)), valid


@characteristic("baspread", window=MONTH + 1, inputs=("adj_high", "adj_low"))
def baspread() -> pl.Expr:
    """Corwin-Schultz (2012) high-low spread estimate, mean of 2-day estimates over 21 sessions."""
    spread, valid = _corwin_schultz_daily()
    # `valid` marks exactly the non-null estimates (positive prices give finite logs), so the
    # window check need not evaluate the estimate a second time.
    return trailing_mean(spread, MONTH, valid=valid)


@characteristic("mvel1", window=YEAR, inputs=("adj_close", "adj_volume", "adj_shares_out"))
def mvel1() -> pl.Expr:
    """Size: log(|close| x shares outstanding) at d (else log close x mean volume, 252 sessions).

    Adjusted close times adjusted shares is the market cap in d's share units, since both
    carry d's cumulative split factor. Proxy: log(adjusted close x mean adjusted share volume
    over t-251..t, min 126).
    """
    market_cap = pl.col("adj_close").abs() * _known_shares()
    volume = pl.col("adj_volume").rolling_mean(YEAR, min_samples=MVEL1_MIN_SESSIONS)
    proxy = pl.col("adj_close") * volume
    size = pl.when(_shares_known()).then(market_cap).otherwise(proxy)
    return per_ticker(positive_log(size))
