import datetime as dt
import shutil

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from cae import warehouse
from cae.errors import ConfigError, ValidationError
from cae.panel import build_panel, characteristic_names, normalise_ranks, read_panel
from cae.warehouse import run_sql
from cae.warehouse.actions import detect_actions
from cae.warehouse.sources.sample import read_sample_prices, read_sample_tickers
from tests.support.prices import insert_prices

CUTOFF = dt.date(2010, 6, 10)  # between the June 2010 splits, so both sides have one


def _build(home, prices, tickers, freqs=("daily", "weekly")):
    con = warehouse.connect(home)
    insert_prices(con, prices, tickers)
    detect_actions(con)
    for freq in freqs:
        build_panel(con, freq)
    return con


@pytest.fixture(scope="module")
def sample():
    return read_sample_prices(), read_sample_tickers()


@pytest.fixture(scope="module")
def full_con(sample, tmp_path_factory):
    return _build(tmp_path_factory.mktemp("full"), *sample)


def _raw_upto(con, freq, cutoff):
    return read_panel(con, freq, normalise=False, end=cutoff).drop("ret_fwd")


def _normalised_upto(con, freq, cutoff):
    return read_panel(con, freq, end=cutoff).drop("ret_fwd")


@pytest.fixture(scope="module")
def perturbed_con(sample, tmp_path_factory):
    prices, tickers = sample
    rng = np.random.default_rng(3)
    shock = pl.Series(rng.lognormal(0, 0.3, prices.height))
    later = pl.col("date") > CUTOFF
    perturbed = prices.with_columns(
        [pl.when(later).then(pl.col(c) * shock).otherwise(pl.col(c)) for c in ("open", "close")]
        + [
            pl.when(later).then(pl.col("high") * shock * 1.5).otherwise(pl.col("high")),
            pl.when(later).then(pl.col("low") * shock / 1.5).otherwise(pl.col("low")),
            pl.when(later).then(pl.col("volume") * 7).otherwise(pl.col("volume")),
        ]
    )
    return _build(tmp_path_factory.mktemp("perturbed"), perturbed, tickers)


@pytest.mark.parametrize("freq", ["daily", "weekly"])
def test_changing_every_later_price_leaves_the_raw_past_unchanged(full_con, perturbed_con, freq):
    before = _raw_upto(full_con, freq, CUTOFF)
    assert before.height > 10_000 if freq == "daily" else before.height > 2_000
    assert_frame_equal(before, _raw_upto(perturbed_con, freq, CUTOFF))
    after = read_panel(full_con, freq, normalise=False, start=CUTOFF + dt.timedelta(days=7))
    changed = read_panel(perturbed_con, freq, normalise=False, start=CUTOFF + dt.timedelta(days=7))
    assert not after.equals(changed)  # the perturbation is real


@pytest.mark.parametrize("freq", ["daily", "weekly"])
def test_changing_every_later_price_leaves_the_normalised_past_unchanged(
    full_con, perturbed_con, freq
):
    assert_frame_equal(
        _normalised_upto(full_con, freq, CUTOFF), _normalised_upto(perturbed_con, freq, CUTOFF)
    )


def test_incremental_build_equals_full_rebuild(sample, full_con, tmp_path):
    prices, tickers = sample
    first = prices.filter(pl.col("date") <= dt.date(2010, 3, 17))  # a Wednesday: week unfinished
    con = _build(tmp_path / "inc", first, tickers)
    insert_prices(con, prices.filter(pl.col("date") > dt.date(2010, 3, 17)))
    detect_actions(con)
    for freq in ("daily", "weekly"):
        report = build_panel(con, freq)
        assert not report.is_full
        assert report.from_date < dt.date(2010, 3, 17)
        assert_frame_equal(
            read_panel(con, freq, normalise=False), read_panel(full_con, freq, normalise=False)
        )
    counts = con.execute("select count(*) from universe_counts where freq = 'weekly'").fetchall()[
        0
    ][0]
    assert counts == 53


def test_panel_contract_columns_types_and_order(full_con):
    panel = read_panel(full_con, "weekly")
    names = characteristic_names(full_con, "weekly")
    assert panel.columns == ["date", "ticker", "ret", "ret_fwd", *names]
    assert panel.schema["date"] == pl.Date
    assert panel.schema["ticker"] == pl.Utf8
    assert all(panel.schema[c] == pl.Float64 for c in ["ret", "ret_fwd", *names])
    assert panel.equals(panel.sort("date", "ticker"))
    assert panel.filter(pl.col("date") == panel["date"].max())["ret_fwd"].null_count() > 0
    assert panel.select(pl.col(names).is_between(-1, 1).all()).row(0) == (True,) * len(names)


def test_all_missing_long_window_normalises_to_zero(full_con):
    raw = read_panel(full_con, "weekly", normalise=False)
    assert raw["mom12m"].null_count() == raw.height  # one year of data: no 12-month momentum
    assert read_panel(full_con, "weekly")["mom12m"].abs().max() == 0.0


def test_weekly_dates_are_friday_closes(full_con):
    dates = read_panel(full_con, "weekly")["date"].unique().sort()
    not_friday = dates.filter(dates.dt.weekday() != 5).to_list()
    assert not_friday == [
        dt.date(2009, 10, 28),  # the sample has no rows for 29-30 October 2009
        dt.date(2009, 12, 24),  # Christmas
        dt.date(2009, 12, 31),  # New Year's Day
        dt.date(2010, 4, 1),  # Good Friday
    ]


def test_split_day_has_a_normal_return(full_con):
    daily = read_panel(full_con, "daily", normalise=False)
    dhr = daily.filter(ticker="DHR", date=dt.date(2010, 6, 14))["ret"].item()
    assert dhr == pytest.approx(39.66 * 2 / 78.67 - 1, rel=1e-9)
    etfc = daily.filter(ticker="ETFC", date=dt.date(2010, 6, 2))["ret"].item()
    assert etfc == pytest.approx(14.99 * 0.1 / 1.42 - 1, rel=1e-9)


def test_rank_normalisation_averages_ties_and_zeroes_missing():
    frame = pl.DataFrame(
        {
            "date": [dt.date(2020, 1, 3)] * 5,
            "x": [3.0, 1.0, 2.0, None, 2.0],
            "empty": [None] * 5,
        },
        schema_overrides={"empty": pl.Float64},
    )
    out = normalise_ranks(frame, ["x", "empty"])
    assert out["x"].to_list() == pytest.approx([0.6, -0.6, 0.0, 0.0, 0.0])
    assert out["empty"].to_list() == [0.0] * 5


def test_unknown_frequency_is_a_config_error(full_con):
    with pytest.raises(ConfigError, match="unknown frequency 'hourly'"):
        build_panel(full_con, "hourly")


def test_reading_a_panel_never_built_says_how_to_build_it(full_con):
    with pytest.raises(ValidationError, match="run `cae build-panel --freq monthly`"):
        read_panel(full_con, "monthly")


def test_copying_the_sample_warehouse_is_independent(sample_warehouse, tmp_path):
    shutil.copytree(sample_warehouse, tmp_path / "copy")
    con = warehouse.connect(tmp_path / "copy")
    assert con.execute("select count(*) from prices").fetchall()[0][0] == 122_574


def test_incremental_build_reads_only_the_lookback_and_matches_a_full_build(tmp_path, monkeypatch):
    from cae.datasets.synth import SynthConfig, generate_market, write_market
    from cae.panel import build

    floors = []
    real_floor = build._returns_floor
    monkeypatch.setattr(
        build, "_returns_floor", lambda *a: floors.append(real_floor(*a)) or floors[-1]
    )

    # Longer than the look-back (756 sessions) plus its margin, with splits before and after
    # the floor the incremental build reads returns from: both sides of it are exercised.
    market = SynthConfig(n_tickers=12, n_days=1700, seed=11, split_share=0.6)
    prices, tickers = generate_market(market)
    cut = prices["date"].unique().sort()[1650]
    incremental = warehouse.connect(tmp_path / "inc")
    write_market(incremental, prices.filter(pl.col("date") <= cut), tickers)
    detect_actions(incremental)
    first = build_panel(incremental, "weekly")
    insert_prices(incremental, prices.filter(pl.col("date") > cut))
    detect_actions(incremental)
    second = build_panel(incremental, "weekly")
    assert not second.is_full
    (floor,) = floors  # returns read from a floor date, with splits on both sides of it
    applied = incremental.sql("select date from adjustments where is_applied").pl()["date"]
    assert applied.min() < floor < applied.max()
    assert second.n_sessions_read < first.n_sessions_read * 0.7  # not the whole history
    full = warehouse.connect(tmp_path / "full")
    write_market(full, prices, tickers)
    detect_actions(full)
    build_panel(full, "weekly")
    # Window sums that start at another session round differently: equal to 1e-9, not bit-equal.
    assert_frame_equal(
        read_panel(incremental, "weekly", normalise=False),
        read_panel(full, "weekly", normalise=False),
        check_exact=False,
        rel_tol=1e-9,
        abs_tol=1e-12,
    )


def test_changed_universe_filters_force_a_full_rebuild(sample, tmp_path):
    from cae.panel.universe import UniverseConfig

    con = _build(tmp_path / "u", *sample, freqs=("weekly",))
    strict = UniverseConfig(min_price=50.0)
    report = build_panel(con, "weekly", universe=strict)
    assert report.is_full
    assert read_panel(con, "weekly")["ticker"].n_unique() < 300
    assert not build_panel(con, "weekly", universe=strict).is_full


def test_build_refuses_a_return_beyond_1000_percent_naming_the_row(cae_home):
    from cae.errors import DataError

    dates = [dt.date(2021, 1, 4) + dt.timedelta(days=i) for i in range(4)]
    prices = pl.DataFrame(
        {
            "ticker": "BAD",
            "date": dates,
            "open": [10.0, 10.0, 250.0, 250.0],
            "high": [10.0, 10.0, 250.0, 250.0],
            "low": [10.0, 10.0, 250.0, 250.0],
            "close": [10.0, 10.0, 250.0, 250.0],
            "volume": [1e5] * 4,
        }
    )
    con = warehouse.connect()
    insert_prices(con, prices)
    detect_actions(con)
    with pytest.raises(DataError, match=r"1 row\(s\) with \|ret\| > 10.*BAD 2021-01-06 ret=24"):
        build_panel(con, "daily")


def test_refresh_panels_builds_daily_and_weekly_from_raw_prices(sample, tmp_path):
    from cae.panel import refresh_panels

    con = warehouse.connect(tmp_path / "r")
    insert_prices(con, *sample)
    reports = refresh_panels(con)
    assert [(r.freq, r.n_dates) for r in reports] == [("daily", 245), ("weekly", 53)]
    assert characteristic_names(con, "daily")[0] == "mom1m"


@pytest.mark.parametrize("freq", ["daily", "weekly"])
def test_cross_sectional_columns_sit_on_their_own_rows(full_con, freq):
    # Stage-1 columns are attached by position: betasq must be this very row's beta squared.
    raw = read_panel(full_con, freq, normalise=False).filter(pl.col("beta").is_not_null())
    assert raw.height > 1_000
    assert (raw["betasq"] == raw["beta"] ** 2).all()


def test_daily_returns_from_a_floor_equal_the_full_view_from_that_date(tmp_path):
    from cae.datasets.synth import SynthConfig, generate_market, write_market

    prices, tickers = generate_market(SynthConfig(n_tickers=8, n_days=400, split_share=0.6))
    con = warehouse.connect(tmp_path)
    write_market(con, prices, tickers)
    detect_actions(con)
    full = con.sql("select * from daily_returns").pl()
    floor = prices["date"].unique().sort()[200]
    applied = con.sql("select date from adjustments where is_applied").pl()["date"]
    assert applied.min() < floor < applied.max()  # splits on both sides of the floor
    run_sql(con, "settings#returns_floor_set", {"floor": floor})
    from_floor = con.sql("select * from daily_returns").pl()
    run_sql(con, "settings#returns_floor_reset")
    assert_frame_equal(
        from_floor.sort("ticker", "date"),
        full.filter(pl.col("date") >= floor).sort("ticker", "date"),
        check_exact=False,
        rel_tol=1e-12,
    )
    unset = con.sql("select * from daily_returns").pl().sort("ticker", "date")
    assert unset.equals(full.sort("ticker", "date"))  # unset: every session, as before


def test_a_failed_incremental_build_leaves_daily_returns_whole(tmp_path, monkeypatch):
    from cae.datasets.synth import SynthConfig, generate_market, write_market
    from cae.panel import build

    prices, tickers = generate_market(SynthConfig(n_tickers=6, n_days=1200, seed=4))
    con = warehouse.connect(tmp_path)
    write_market(con, prices.filter(pl.col("date") < prices["date"].max()), tickers)
    detect_actions(con)
    build_panel(con, "weekly")
    insert_prices(con, prices.filter(pl.col("date") == prices["date"].max()))

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the middle of a build")

    monkeypatch.setattr(build.features, "compute_daily", broken)
    with pytest.raises(RuntimeError, match="a bug in the middle"):
        build_panel(con, "weekly")
    floor = con.sql("select getvariable('daily_returns_floor')").fetchall()[0][0]
    assert floor is None  # later reads of daily_returns on this connection see every session
