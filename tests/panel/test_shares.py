"""Shares outstanding feed turn, std_turn and mvel1 when known; the volume proxies otherwise."""

import datetime as dt
import json
import math

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from cae import warehouse
from cae.panel import build_panel, ingest_panel, read_panel
from cae.panel.features import (
    MVEL1_SOURCE,
    TURN_SOURCE,
    add_daily_columns,
    compute_daily,
    uses_shares,
)
from cae.panel.proxy_sources import source_label
from cae.warehouse.actions import detect_actions
from tests.support.prices import new_batch

SHARES_NAMES = ["turn", "std_turn", "mvel1"]
START = dt.date(2021, 1, 4)


def _dates(n):
    return [START + dt.timedelta(days=i) for i in range(n)]


def _base(ticker, volume, shares, close=50.0):
    """A daily base frame (the columns the three characteristics read), no splits."""
    n = len(volume)
    return pl.DataFrame(
        {
            "ticker": ticker,
            "date": _dates(n),
            "adj_close": [close] * n,
            "adj_volume": [float(v) for v in volume],
            "adj_shares_out": shares,
        },
        schema_overrides={"adj_shares_out": pl.Float64},
    )


def _at(frame, ticker, name, t):
    return frame.filter(ticker=ticker).sort("date")[name][t]


# --- hand-computed values on a tiny frame ------------------------------------------------------


@pytest.fixture(scope="module")
def ramp():
    # volume 1000, 1010, ..., shares 100,000 every day, close 50
    volume = [1000 + 10 * i for i in range(100)]
    frame = _base("S", volume, [100_000.0] * 100)
    return add_daily_columns(
        compute_daily(frame, SHARES_NAMES),
        [uses_shares(name).alias(f"uses_{name}") for name in SHARES_NAMES],
    )


def test_turn_is_three_months_of_volume_over_shares(ramp):
    # t=99: 21 x mean(volume at sessions 37..99) / shares = 21 x 1680 / 100,000
    assert _at(ramp, "S", "turn", 99) == pytest.approx(0.3528, rel=1e-12)
    # t=62 is the first full 63-session window: 21 x 1310 / 100,000
    assert _at(ramp, "S", "turn", 62) == pytest.approx(0.2751, rel=1e-12)
    assert _at(ramp, "S", "turn", 61) is None  # 62 sessions: missing, and no proxy yet either


def test_std_turn_is_the_std_of_daily_turnover(ramp):
    # daily turnover steps by 10 / 100,000; std (ddof 1) of 21 steps 0..20 is sqrt(21 x 22 / 12)
    assert _at(ramp, "S", "std_turn", 99) == pytest.approx(10 * math.sqrt(38.5) / 1e5, rel=1e-9)
    assert _at(ramp, "S", "std_turn", 20) == pytest.approx(10 * math.sqrt(38.5) / 1e5, rel=1e-9)
    assert _at(ramp, "S", "std_turn", 19) is None


def test_mvel1_is_log_close_times_shares(ramp):
    assert _at(ramp, "S", "mvel1", 0) == pytest.approx(math.log(50 * 100_000), rel=1e-12)
    assert _at(ramp, "S", "mvel1", 99) == pytest.approx(15.424948470398375, rel=1e-12)


def test_every_row_says_it_used_shares(ramp):
    assert ramp.select(pl.col("uses_turn", "uses_mvel1").all()).row(0) == (True, True)
    # std_turn needs a turnover on each of the month's 21 sessions
    assert ramp["uses_std_turn"].to_list() == [False] * 20 + [True] * 80


def test_a_stale_shares_figure_falls_back_to_the_proxy():
    # shares reported on sessions 0 and 70 only: carried 63 sessions, then unknown
    shares = [None] * 200
    shares[0], shares[70] = 100_000.0, 120_000.0
    frame = _base("Q", [1000.0] * 200, shares)
    out = add_daily_columns(
        compute_daily(frame, SHARES_NAMES), [uses_shares("mvel1").alias("uses")]
    )
    assert out["uses"][63] and not out["uses"][64] and out["uses"][70]
    assert out["mvel1"][63] == pytest.approx(math.log(50 * 100_000), rel=1e-12)
    # session 64: no shares and the proxy needs 126 sessions: missing, never a stale value
    assert out["mvel1"][64] is None
    assert out["mvel1"][70] == pytest.approx(math.log(50 * 120_000), rel=1e-12)
    # session 199: the 120,000 figure is 129 sessions old, so the proxy: log(50 x mean volume)
    assert out["mvel1"][199] == pytest.approx(math.log(50 * 1000), rel=1e-12)
    assert out["turn"][199] == pytest.approx(1.0, rel=1e-12)  # proxy: flat volume -> 1


def test_without_shares_the_proxies_are_unchanged():
    rng = np.random.default_rng(5)
    volume = rng.integers(1_000, 50_000, 300).astype(float)
    out = compute_daily(_base("P", volume, [None] * 300), SHARES_NAMES)
    t = 299
    month, half = volume[t - 20 : t + 1], volume[t - 125 : t + 1]
    assert out["turn"][t] == pytest.approx(month.mean() / half.mean(), rel=1e-12)
    assert out["std_turn"][t] == pytest.approx(np.std(month, ddof=1) / half.mean(), rel=1e-9)
    assert out["mvel1"][t] == pytest.approx(
        math.log(50 * volume[t - 251 : t + 1].mean()), rel=1e-12
    )


def test_labels_name_the_source_with_counts():
    assert source_label(0, 7, TURN_SOURCE) == TURN_SOURCE
    assert source_label(0, 0, MVEL1_SOURCE) == MVEL1_SOURCE
    assert source_label(5, 0, TURN_SOURCE) == "shares_out"
    assert source_label(5, 7, TURN_SOURCE) == (f"mixed (shares_out: 5 rows; {TURN_SOURCE}: 7 rows)")


# --- through the warehouse: mixed tickers, splits, look-ahead, metadata ------------------------

N_SESSIONS = 300
CUTOFF_SESSION = 200


def _prices(seed=11):
    """AAA: shares every day; BBB: never; CCC: from session 150 on; DDD: AAA split 2:1 at 80."""
    rng = np.random.default_rng(seed)
    dates = _dates(N_SESSIONS)
    frames = []
    for ticker, first_shares in (("AAA", 0), ("BBB", None), ("CCC", 150)):
        close = 40 * np.cumprod(1 + rng.normal(0, 0.01, N_SESSIONS))
        volume = rng.integers(10_000, 90_000, N_SESSIONS).astype(float)
        shares = [
            None if first_shares is None or i < first_shares else 2e6 + 1_000 * i
            for i in range(N_SESSIONS)
        ]
        frames.append(
            pl.DataFrame(
                {
                    "ticker": ticker,
                    "date": dates,
                    "close": close,
                    "volume": volume,
                    "shares_out": shares,
                },
                schema_overrides={"shares_out": pl.Float64},
            )
        )
    aaa = frames[0]
    after = pl.int_range(pl.len()) >= 80
    frames.append(
        aaa.with_columns(
            pl.lit("DDD").alias("ticker"),
            pl.when(after).then(pl.col("close") / 2).otherwise("close").alias("close"),
            pl.when(after).then(pl.col("volume") * 2).otherwise("volume").alias("volume"),
            pl.when(after).then(pl.col("shares_out") * 2).otherwise("shares_out"),
        )
    )
    return pl.concat(frames).with_columns(
        pl.col("close").alias("open"), pl.col("close").alias("high"), pl.col("close").alias("low")
    )


def _insert(con, prices):
    batch_id = new_batch(con, prices.height)
    rows = prices.select(
        "ticker",
        "date",
        "open",
        "high",
        "low",
        "close",
        "volume",
        pl.lit(1.0).alias("adj_factor"),
        "shares_out",
        pl.lit("test").alias("source"),
        pl.lit(batch_id, dtype=pl.Int64).alias("batch_id"),
    )
    con.from_arrow(rows.to_arrow()).insert_into("prices")


def _build(home, prices, freqs=("daily", "weekly")):
    actions = home.parent / f"{home.name}_actions.csv"
    actions.write_text(f"ticker,date,ratio\nDDD,{_dates(N_SESSIONS)[80]},2\n")
    con = warehouse.connect(home)
    _insert(con, prices)
    detect_actions(con, actions)
    for freq in freqs:
        build_panel(con, freq)
    return con


@pytest.fixture(scope="module")
def prices():
    return _prices()


@pytest.fixture(scope="module")
def con(prices, tmp_path_factory):
    return _build(tmp_path_factory.mktemp("shares") / "home", prices)


def _raw(con, freq="daily", **kwargs):
    return read_panel(con, freq, normalise=False, **kwargs)


def test_mixed_tickers_each_use_their_own_source(con, prices):
    panel = _raw(con).filter(pl.col("date") == _dates(N_SESSIONS)[-1])
    row = {r["ticker"]: r for r in panel.iter_rows(named=True)}
    t = N_SESSIONS - 1
    aaa = prices.filter(ticker="AAA")
    volume = aaa["volume"].to_numpy()
    assert row["AAA"]["turn"] == pytest.approx(
        21 * volume[t - 62 :].mean() / aaa["shares_out"][t], rel=1e-12
    )
    assert row["AAA"]["mvel1"] == pytest.approx(
        math.log(aaa["close"][t] * aaa["shares_out"][t]), rel=1e-12
    )
    bbb = prices.filter(ticker="BBB")["volume"].to_numpy()
    assert row["BBB"]["turn"] == pytest.approx(bbb[-21:].mean() / bbb[-126:].mean(), rel=1e-12)


def test_a_split_changes_neither_turnover_nor_market_cap(con):
    # DDD is AAA with a 2:1 split at session 80: raw close halves, volume and shares double.
    panel = _raw(con).filter(pl.col("ticker").is_in(["AAA", "DDD"])).sort("ticker", "date")
    aaa, ddd = panel.filter(ticker="AAA"), panel.filter(ticker="DDD")
    for name in SHARES_NAMES:
        assert ddd[name].to_numpy() == pytest.approx(aaa[name].to_numpy(), rel=1e-9, nan_ok=True)
    assert ddd["mvel1"].null_count() == 0


def test_panel_meta_counts_rows_by_source(con):
    meta = con.execute(
        "select turn_source, std_turn_source, mvel1_source from panel_meta where freq = 'daily'"
    ).fetchall()[0]
    # turn: AAA and DDD from session 62 (238 rows each), CCC from 150 (150); proxy: BBB from
    # session 125 (175 rows) and CCC at 125..149 (25 rows).
    assert meta[0] == f"mixed (shares_out: 626 rows; {TURN_SOURCE}: 200 rows)"
    # std_turn: AAA and DDD from 20 (280 each), CCC from 170 (130); proxy: BBB 175, CCC 45
    assert meta[1] == f"mixed (shares_out: 690 rows; {TURN_SOURCE}: 220 rows)"
    # mvel1: AAA and DDD every session (300 each), CCC from 150 (150); proxy from 125 (175, 25)
    assert meta[2] == f"mixed (shares_out: 750 rows; {MVEL1_SOURCE}: 200 rows)"


def test_characteristic_sources_counts_each_date(con):
    last = con.execute(
        "select name, n_shares, n_proxy from characteristic_sources "
        "where freq = 'daily' and date = (select max(date) from characteristic_sources) "
        "order by name"
    ).fetchall()
    assert last == [("mvel1", 3, 1), ("std_turn", 3, 1), ("turn", 3, 1)]
    weekly = con.execute(
        "select count(distinct date), sum(n_shares) from characteristic_sources "
        "where freq = 'weekly' and name = 'turn'"
    ).fetchall()[0]
    assert weekly[0] == 43  # 300 calendar days: 43 week ends
    assert 0 < weekly[1] < 626


def test_changing_later_shares_leaves_the_past_unchanged(con, prices, tmp_path):
    cutoff = _dates(N_SESSIONS)[CUTOFF_SESSION]
    later = pl.col("date") > cutoff
    perturbed = prices.with_columns(
        # every later figure changes, and BBB gains shares it never had
        pl.when(later).then(pl.col("shares_out").fill_null(5e6) * 1.7).otherwise("shares_out")
    )
    other = _build(tmp_path / "perturbed", perturbed)
    for freq in ("daily", "weekly"):
        assert_frame_equal(_raw(con, freq, end=cutoff), _raw(other, freq, end=cutoff))
        after = _raw(con, freq, start=cutoff + dt.timedelta(days=1))
        assert not after.equals(_raw(other, freq, start=cutoff + dt.timedelta(days=1)))
    past = "select * from characteristic_sources where date <= $cutoff order by all"
    assert_frame_equal(
        con.sql(past, params={"cutoff": cutoff}).pl(),
        other.sql(past, params={"cutoff": cutoff}).pl(),
    )


def test_incremental_build_keeps_whole_panel_counts(con, prices, tmp_path):
    split = _dates(N_SESSIONS)[CUTOFF_SESSION]
    inc = _build(tmp_path / "inc", prices.filter(pl.col("date") <= split))
    _insert(inc, prices.filter(pl.col("date") > split))
    detect_actions(inc)
    for freq in ("daily", "weekly"):
        assert not build_panel(inc, freq).is_full
        assert_frame_equal(_raw(inc, freq), _raw(con, freq))
    query = "select * exclude (built_at) from panel_meta order by freq"
    assert_frame_equal(inc.sql(query).pl(), con.sql(query).pl())
    counts = "select * from characteristic_sources order by all"
    assert_frame_equal(inc.sql(counts).pl(), con.sql(counts).pl())


def test_a_user_panel_has_no_sources_and_keeps_the_computed_ones(con, prices, tmp_path):
    other = _build(tmp_path / "user", prices, freqs=("monthly",))
    count = "select count(*) from characteristic_sources"
    n_computed = other.execute(count).fetchall()[0][0]
    assert n_computed > 0
    path = tmp_path / "panel.csv"
    path.write_text("date,ticker,ret,size\n2021-01-29,AAA,0.01,1.5\n2021-02-26,AAA,0.02,1.6\n")
    ingest_panel(other, path, "monthly")
    assert other.execute(count).fetchall()[0][0] == n_computed
    assert other.execute(count + " where freq = 'own_monthly'").fetchall()[0][0] == 0
    meta = other.execute(
        "select turn_source, std_turn_source, mvel1_source, char_names from panel_meta "
        "where freq = 'own_monthly'"
    ).fetchall()[0]
    assert meta[:3] == (None, None, None)
    assert json.loads(meta[3]) == ["size"]


def test_the_sample_has_no_shares_and_keeps_the_proxies(sample_warehouse, tmp_path):
    import shutil

    shutil.copytree(sample_warehouse, tmp_path / "sample")
    sample = warehouse.connect(tmp_path / "sample")
    detect_actions(sample)
    build_panel(sample, "weekly")
    meta = sample.execute(
        "select turn_source, std_turn_source, mvel1_source from panel_meta"
    ).fetchall()[0]
    assert meta == (TURN_SOURCE, TURN_SOURCE, MVEL1_SOURCE)
    totals = sample.execute(
        "select sum(n_shares), sum(n_proxy) from characteristic_sources where name = 'turn'"
    ).fetchall()[0]
    assert totals[0] == 0
    stored = sample.execute("select count(turn) from characteristics_weekly").fetchall()[0][0]
    assert totals[1] == stored > 1_000


# --- cae ingest of a file with shares outstanding, end to end ----------------------------------


def test_cli_ingest_maps_a_shares_column_into_the_panel(tmp_path, capsys):
    from cae import cli

    prices = _prices().filter(pl.col("ticker").is_in(["AAA", "BBB"]))
    path = tmp_path / "vendor.csv"
    prices.select(
        pl.col("ticker").alias("Symbol"),
        "date",
        "open",
        "high",
        "low",
        "close",
        "volume",
        pl.col("shares_out").alias("SharesOut"),
    ).write_csv(path)
    home = str(tmp_path / "home")
    assert cli.main(["ingest", str(path), "--map", "SharesOut=shares_out", "--home", home]) == 0
    assert cli.main(["build-panel", "--freq", "daily", "--home", home]) == 0
    capsys.readouterr()
    query = "select turn_source from panel_meta where freq = 'daily'"
    assert cli.main(["sql", query, "--home", home]) == 0
    # AAA from session 62 (238 rows) on shares; BBB from 125 (175 rows) on the proxy
    expected = f"mixed (shares_out: 238 rows; {TURN_SOURCE}: 175 rows)"
    assert capsys.readouterr().out.strip() == expected
    query = "select sum(n_shares) from characteristic_sources where name = 'mvel1'"
    assert cli.main(["sql", query, "--home", home]) == 0
    assert capsys.readouterr().out.strip() == "300"  # AAA: every session has shares
    con = warehouse.connect(home, read_only=True)
    stored = con.execute(
        "select shares_out from prices where ticker = 'AAA' order by date desc limit 1"
    ).fetchall()[0][0]
    assert stored == prices.filter(ticker="AAA")["shares_out"][-1]
    turn = read_panel(con, "daily", normalise=False).filter(ticker="AAA")["turn"][-1]
    volume = prices.filter(ticker="AAA")["volume"].to_numpy()
    assert turn == pytest.approx(21 * volume[-63:].mean() / stored, rel=1e-9)


def test_a_panel_built_before_shares_were_read_is_rebuilt_in_full(prices, tmp_path):
    other = _build(tmp_path / "old", prices, freqs=("daily",))
    assert not build_panel(other, "daily").is_full
    # what migration 0003 leaves on a panel built by the volume-proxy-only code
    other.execute("update panel_meta set std_turn_source = null").fetchall()
    report = build_panel(other, "daily")
    assert report.is_full
    meta = other.execute("select std_turn_source from panel_meta").fetchall()[0][0]
    assert meta.startswith("mixed (shares_out: 690 rows;")
