import datetime as dt
import itertools
import math
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cae.errors import DataError
from cae.panel.features import (
    REGISTRY,
    characteristic,
    check_returns,
    compute_daily,
    lookback_sessions,
    names,
    windows,
)
from cae.panel.features.kernel import KERNEL_NAMES, kernel_values

N_DAYS = 800
T = N_DAYS - 1  # the date every naive value below is computed at


def _ticker(rng, ticker, sector, zero_volume=False):
    ret = rng.standard_t(4, N_DAYS) * 0.01
    ret[0] = np.nan
    close = 50 * np.cumprod(1 + np.nan_to_num(ret))
    high = close * (1 + rng.uniform(0, 0.02, N_DAYS))
    low = close * (1 - rng.uniform(0, 0.02, N_DAYS))
    volume = rng.integers(1_000, 100_000, N_DAYS).astype(float)
    if zero_volume:
        volume[-30::5] = 0.0  # 4 zero days in the last month: ill still has 17
    return pl.DataFrame(
        {
            "ticker": ticker,
            "date": [dt.date(2000, 1, 3) + dt.timedelta(days=i) for i in range(N_DAYS)],
            "sector": sector,
            "open": close,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "cum_factor": 1.0,
            "ret": ret,
            "n_obs": np.arange(1, N_DAYS + 1),
        }
    ).with_columns(pl.col("ret").fill_nan(None))


@pytest.fixture(scope="module")
def base():
    rng = np.random.default_rng(7)
    frame = pl.concat(
        [_ticker(rng, "A", "S1"), _ticker(rng, "B", "S1"), _ticker(rng, "C", "S2", True)]
    )
    return frame.with_columns(
        pl.col("close").alias("adj_close"),
        pl.col("high").alias("adj_high"),
        pl.col("low").alias("adj_low"),
        pl.col("volume").alias("adj_volume"),
        pl.lit(None, dtype=pl.Float64).alias("adj_shares_out"),
        (pl.col("close") * pl.col("volume")).alias("dollar_volume"),
        pl.col("ret").mean().over("date").alias("mkt_ret"),
    )


@pytest.fixture(scope="module")
def daily(base):
    return compute_daily(base)


def _series(base, ticker, column):
    return base.filter(ticker=ticker).sort("date")[column].to_numpy().astype(float)


def _value(daily, ticker, name, t=T):
    return daily.filter(ticker=ticker).sort("date")[name][t]


def _compound(r):
    return float(np.prod(1 + r) - 1)


def _naive(base, ticker):
    r = _series(base, ticker, "ret")
    m = _series(base, ticker, "mkt_ret")
    v = _series(base, ticker, "volume")
    dv = _series(base, ticker, "dollar_volume")
    close = _series(base, ticker, "close")
    hi, lo = _series(base, ticker, "high"), _series(base, ticker, "low")
    month = slice(T - 20, T + 1)
    slope, intercept = np.polyfit(m[T - 251 : T + 1], r[T - 251 : T + 1], 1)
    resid = r[T - 251 : T + 1] - (intercept + slope * m[T - 251 : T + 1])
    k = 3 - 2 * math.sqrt(2)
    spreads = []
    for s in range(T - 20, T + 1):
        b = math.log(hi[s] / lo[s]) ** 2 + math.log(hi[s - 1] / lo[s - 1]) ** 2
        g = math.log(max(hi[s], hi[s - 1]) / min(lo[s], lo[s - 1])) ** 2
        a = (math.sqrt(2 * b) - math.sqrt(b)) / k - math.sqrt(g / k)
        spreads.append(max(2 * (math.exp(a) - 1) / (1 + math.exp(a)), 0.0))
    traded = dv[month] > 0
    return {
        "mom1m": _compound(r[month]),
        "mom6m": _compound(r[T - 125 : T - 20]),
        "mom12m": _compound(r[T - 251 : T - 20]),
        "mom36m": _compound(r[T - 755 : T - 251]),
        "chmom": _compound(r[T - 125 : T + 1]) - _compound(r[T - 251 : T - 125]),
        "strev": _compound(r[T - 4 : T + 1]),
        "maxret": float(r[month].max()),
        "retvol": float(np.std(r[month], ddof=1)),
        "beta": slope,
        "betasq": slope**2,
        "idiovol": math.sqrt(np.sum(resid**2) / (252 - 2)),
        "dolvol": math.log(dv[month].mean()),
        "std_dolvol": float(np.std(dv[month], ddof=1)),
        "ill": float(np.mean(np.abs(r[month][traded]) / dv[month][traded])),
        "zerotrade": float(np.sum(v[month] == 0)),
        "turn": v[month].mean() / v[T - 125 : T + 1].mean(),
        "std_turn": np.std(v[month], ddof=1) / v[T - 125 : T + 1].mean(),
        "baspread": float(np.mean(spreads)),
        "mvel1": math.log(close[T] * v[T - 251 : T + 1].mean()),
    }


@pytest.mark.parametrize("ticker", ["A", "C"])
@pytest.mark.parametrize("name", [n for n in REGISTRY if n != "indmom"])
def test_characteristic_matches_a_naive_computation(base, daily, ticker, name):
    assert _value(daily, ticker, name) == pytest.approx(_naive(base, ticker)[name], rel=1e-9)


def test_indmom_is_the_sector_mean_of_mom6m(base, daily):
    a, b, c = (_compound(_series(base, t, "ret")[T - 125 : T - 20]) for t in "ABC")
    assert _value(daily, "A", "indmom") == pytest.approx((a + b) / 2, rel=1e-12)
    assert _value(daily, "C", "indmom") == pytest.approx(c, rel=1e-12)


def test_hand_computed_five_day_return():
    frame = pl.DataFrame(
        {"ticker": "X", "date": [dt.date(2020, 1, i) for i in range(1, 7)]}
    ).with_columns(pl.Series("ret", [None, 0.01, 0.01, 0.01, 0.01, 0.01]))
    out = compute_daily(frame, ["strev"])
    assert out["strev"][5] == pytest.approx(1.01**5 - 1, rel=1e-12)  # 0.0510100501
    assert out["strev"][4] is None  # the listing day has no return: 4 of 5 sessions known


def test_without_enough_history_a_characteristic_is_null_not_zero(daily):
    ticker = daily.filter(ticker="A").sort("date")
    full_return_windows = {"mom1m", "mom6m", "mom12m", "mom36m", "chmom", "strev", "maxret"}
    for name, entry in REGISTRY.items():
        assert ticker[name][0] is None, name
        if name in full_return_windows | {"retvol"}:
            # the listing day has no return, so the first full window ends one session later
            assert ticker[name][entry.window - 1] is None, name


def test_value_appears_once_the_window_is_full(daily):
    ticker = daily.filter(ticker="A").sort("date")
    assert ticker["mom1m"][20] is None
    assert ticker["mom1m"][21] is not None
    assert ticker["beta"][126] is not None  # 126 return pairs: the regression's minimum
    assert ticker["beta"][125] is None


def test_lookback_is_the_longest_window():
    assert lookback_sessions() == 756
    assert lookback_sessions(["mom1m", "strev"]) == 21


def test_registry_lists_twenty_characteristics():
    assert len(names()) == 20
    assert names()[:3] == ("mom1m", "mom6m", "mom12m")


def test_implausible_return_is_an_error_naming_the_row():
    frame = pl.DataFrame(
        {"ticker": ["X", "Y"], "date": [dt.date(2020, 1, 2)] * 2, "ret": [0.1, 12.5]}
    )
    with pytest.raises(
        DataError, match=r"prices: 1 row\(s\) with \|ret\| > 10.*Y 2020-01-02 ret=12.5"
    ):
        check_returns(frame)


DOCS = Path(__file__).parents[3] / "docs" / "characteristics.md"
# The user's data each daily base column comes from (sql/daily_base.sql), in the words of the
# docs table's "needs" column.
NEEDS = {
    "ret": {"close"},
    "mkt_ret": {"close"},
    "dollar_volume": {"close", "volume"},
    "volume": {"volume"},
    "adj_close": {"close", "splits"},
    "adj_high": {"high", "splits"},
    "adj_low": {"low", "splits"},
    "adj_volume": {"volume", "splits"},
    "adj_shares_out": {"shares_out", "splits"},
    "sector": {"sectors"},
}


def _needs(name):
    # A stage-1 input can be a characteristic: it needs what that one needs.
    inputs = REGISTRY[name].inputs
    return set().union(*(_needs(c) if c in REGISTRY else NEEDS[c] for c in inputs))


def _docs_rows(text):
    """Return the docs table's rows by name: {name: (window cell, needs cell)}."""
    lines = text.splitlines()
    start = lines.index("| name | formula (daily data) | window (min) | needs | source |") + 2
    rows = {}
    for line in itertools.takewhile(lambda line: line.startswith("|"), lines[start:]):
        name, _, window, needs, _ = (c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1])
        rows[name] = (window, needs)
    return rows


def _docs_mismatches(text):
    """Return one line per disagreement between the docs table and the registry."""
    rows = _docs_rows(text)
    problems = [f"{n}: registered, but no line in docs" for n in names() if n not in rows]
    problems += [f"{n}: a docs line, but not registered" for n in rows if n not in REGISTRY]
    for name in [n for n in names() if n in rows]:
        window_cell, needs_cell = rows[name]
        # "21 (21)": the window, then the minimum in parentheses; a characteristic with two
        # sources gives a window for each ("shares 63 (63), proxy 126 (126)").
        documented = max(int(n) for n in re.findall(r"\d+", re.sub(r"\(.*?\)", "", window_cell)))
        if documented != REGISTRY[name].window:
            problems.append(f"{name}: docs window {documented}, registry {REGISTRY[name].window}")
        if set(needs_cell.split(", ")) != _needs(name):
            problems.append(
                f"{name}: docs needs {needs_cell!r}, inputs need {sorted(_needs(name))}"
            )
    return problems


def test_docs_table_matches_the_registry():
    assert _docs_mismatches(DOCS.read_text()) == []


def _columns_read(expr):
    # The columns an expression reads, through the helper columns it shares with others.
    found = set()
    for root in expr.meta.root_names():
        helper = windows.RUNNING.get(root, windows.STREAKS.get(root))
        if helper is not None:
            found |= _columns_read(helper)
        elif root not in (windows.ROW, windows.SESSION, windows.TICKER_RUN, "date"):
            found.add(root)
    return found


@pytest.mark.parametrize("name", names())
def test_registered_inputs_are_the_columns_the_expression_reads(name):
    assert _columns_read(REGISTRY[name].expr()) == set(REGISTRY[name].inputs)


@pytest.fixture
def absret():
    """Register a characteristic as a user adds one; unregister it afterwards."""

    @characteristic("absret", window=1, inputs=("ret",))
    def _absret() -> pl.Expr:
        """Absolute daily return."""
        return pl.col("ret").abs()

    yield "absret"
    del REGISTRY["absret"]


def test_a_registered_function_is_computed_and_needs_its_docs_line(base, daily, absret):
    out = compute_daily(base)
    assert out.select(pl.exclude(absret)).equals(daily)  # the kernel still computes the rest
    assert out[absret].equals(base.sort("ticker", "date")["ret"].abs().alias(absret))
    assert kernel_values(base, [absret]) is None  # computed by its expression
    assert _docs_mismatches(DOCS.read_text()) == ["absret: registered, but no line in docs"]
    documented = _with_docs_line("| absret | \\|ret\\| at d | 1 (1) | close | - |")
    assert _docs_mismatches(documented) == []
    assert _docs_mismatches(documented.replace("| 1 (1) |", "| 5 (5) |")) == [
        "absret: docs window 5, registry 1"
    ]
    assert _docs_mismatches(documented.replace("| close | - |", "| volume | - |")) == [
        "absret: docs needs 'volume', inputs need ['close']"
    ]


def test_a_docs_line_without_a_registry_entry_is_named():
    documented = _with_docs_line("| ghost | a removed characteristic | 21 (21) | close | - |")
    assert _docs_mismatches(documented) == ["ghost: a docs line, but not registered"]


def _with_docs_line(line):
    # The docs text with `line` added at the end of the characteristics table.
    indmom = next(row for row in DOCS.read_text().splitlines() if row.startswith("| indmom "))
    return DOCS.read_text().replace(indmom, f"{indmom}\n{line}")


def test_another_tickers_rows_change_nothing_bit_for_bit(base, daily):
    # A's rows come first in the sorted frame: running totals restart per ticker, so B and C
    # are bit-identical whatever A holds (no tolerance).
    noisy = base.with_columns(
        pl.when(pl.col("ticker") == "A").then(pl.col(c) * 1.37).otherwise(pl.col(c)).alias(c)
        for c in ("ret", "dollar_volume", "volume", "adj_high", "adj_low")
    )
    stage_zero = [n for n in names() if REGISTRY[n].stage == 0]
    before = daily.filter(pl.col("ticker") != "A").select(stage_zero)
    after = compute_daily(noisy).filter(pl.col("ticker") != "A").select(stage_zero)
    assert before.equals(after)
    assert not daily.filter(ticker="A")["retvol"].equals(
        compute_daily(noisy).filter(ticker="A")["retvol"]
    )


def test_changing_later_rows_leaves_earlier_values_bit_identical(base, daily):
    cut = dt.date(2000, 1, 3) + dt.timedelta(days=500)
    later = pl.col("date") > cut
    shocked = base.with_columns(
        pl.when(later).then(pl.col(c) * 3.0).otherwise(pl.col(c)).alias(c)
        for c in ("ret", "mkt_ret", "dollar_volume", "volume", "adj_high", "adj_low", "adj_close")
    )
    past = pl.col("date") <= cut
    assert daily.filter(past).equals(compute_daily(shocked).filter(past))


def test_partial_window_beta_matches_a_regression_on_the_history_so_far(base, daily):
    t = 200  # 200 return pairs (sessions 1..200): more than the 126 minimum, fewer than 252
    r, m = _series(base, "A", "ret"), _series(base, "A", "mkt_ret")
    slope, _ = np.polyfit(m[1 : t + 1], r[1 : t + 1], 1)
    assert _value(daily, "A", "beta", t) == pytest.approx(slope, rel=1e-9)


def test_std_of_an_unchanging_window_is_exactly_zero():
    frame = pl.DataFrame(
        {
            "ticker": "X",
            "date": [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(30)],
            "dollar_volume": [5e9 * (1 + i) for i in range(5)] + [1e7] * 25,
        }
    )
    out = compute_daily(frame, ["std_dolvol"])
    assert out["std_dolvol"][29] == 0.0
    assert out["std_dolvol"][19] is None  # 20 sessions so far: the window is not full


def test_unsorted_input_gives_the_sorted_result(base, daily):
    shuffled = base.sample(fraction=1.0, shuffle=True, seed=5)
    assert compute_daily(shuffled).equals(daily)


def test_running_totals_agree_padded_and_ticker_by_ticker(monkeypatch):

    rng = np.random.default_rng(11)
    lengths = [400, 3, 7, 1, 12]  # one long history among short ones: mostly padding
    frame = pl.DataFrame(
        {
            windows.SESSION: np.concatenate([np.arange(n) for n in lengths]),
            "x": rng.normal(0, 1e6, sum(lengths)),
            "k": rng.integers(0, 2, sum(lengths)).astype(np.int32),
        }
    )
    monkeypatch.setattr(windows, "MAX_PADDING", 100)
    padded = windows.running_totals(frame, ["x", "k"])
    monkeypatch.setattr(windows, "MAX_PADDING", 1)
    one_by_one = windows.running_totals(frame, ["x", "k"])
    assert padded[0].equals(one_by_one[0]) and padded[1].equals(one_by_one[1])
    start = sum(lengths[:3])  # the fourth ticker: one row, its own value
    assert padded[0][start] == frame["x"][start]
    assert padded[1][start + 1 :].to_list() == np.cumsum(frame["k"][start + 1 :]).tolist()


def test_an_overflowing_value_is_missing_not_inf():
    frame = pl.DataFrame(
        {
            "ticker": "X",
            "date": [dt.date(2000, 1, 1) + dt.timedelta(days=i) for i in range(760)],
            "ret": [9.0] * 760,  # 900% a day: compounded over 504 sessions it overflows
        }
    )
    out = compute_daily(frame, ["mom36m", "strev"])
    assert out["mom36m"][759] is None
    assert out["strev"][759] == pytest.approx(10.0**5 - 1, rel=1e-12)


def _kernel_and_expressions(frame):
    from cae.panel.features import engine

    # The kernel computes registered per-ticker characteristics only, each checked here.
    compiled = list(KERNEL_NAMES)
    assert all(REGISTRY[name].stage == 0 for name in compiled)
    frame = frame.sort("ticker", "date")
    expressions = engine._add(frame, compiled, sessions=True).select(compiled)
    return kernel_values(frame, compiled), expressions


def test_compiled_kernel_gives_the_expressions_values_and_nulls(base):
    # Shares known on some stretches only (gaps of 90 and 41 sessions: SHARES_MAX_AGE is 63), a
    # missing market return, a ticker shorter than every window: each branch of the kernel.
    rng = np.random.default_rng(3)
    session = pl.int_range(pl.len()).over("ticker")
    shares = rng.uniform(1e6, 2e6, base.height)
    frame = base.with_columns(
        pl.when((session % 150 < 60) | (session == 700))
        .then(pl.Series(shares))
        .alias("adj_shares_out"),
        pl.when(session == 400).then(None).otherwise(pl.col("mkt_ret")).alias("mkt_ret"),
    )
    short = frame.filter(ticker="B").head(40).with_columns(pl.lit("D").alias("ticker"))
    kernel, expressions = _kernel_and_expressions(pl.concat([frame, short]))
    assert kernel.columns == expressions.columns
    for name in kernel.columns:
        ours, spec = kernel[name], expressions[name]
        assert ours.is_null().equals(spec.is_null()), name
        both = ours.is_not_null()
        assert np.allclose(ours.filter(both), spec.filter(both), rtol=1e-12, atol=0), name
    assert kernel["turn"].is_not_null().sum() > 1000  # the shares branch was exercised


def test_kernel_leaves_nan_inputs_to_the_expressions(base):

    frame = base.with_columns(pl.col("dollar_volume").fill_null(float("nan")))
    assert (
        kernel_values(frame.head(5).with_columns(pl.lit(float("nan")).alias("ret")), ["mom1m"])
        is None
    )
    assert kernel_values(frame.drop("mkt_ret"), ["beta"]) is None
    assert kernel_values(frame.drop("mkt_ret"), ["mom1m"])["mom1m"].len() == frame.height


def test_kernel_reads_sliced_and_chunked_columns_with_nulls_in_place(base):
    # The kernel reads a column's Arrow buffer and null mask in place: an offset (a slice) and
    # several chunks (a concat) must give what a fresh contiguous copy gives.

    names = list(KERNEL_NAMES)
    frame = base.sort("ticker", "date").with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 3).then(None).otherwise(pl.col("ret")).alias("ret")
    )
    sliced = frame.slice(5, frame.height - 5)
    chunked = pl.concat([sliced.slice(0, 300), sliced.slice(300)], rechunk=False)
    assert chunked["ret"].n_chunks() == 2 and sliced["ret"].null_count() > 100
    expected = kernel_values(pl.DataFrame(sliced.to_dict(as_series=False)), names)
    for variant in (sliced, chunked):
        assert kernel_values(variant, names).equals(expected)
