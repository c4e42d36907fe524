import polars as pl
import pytest

from cae import warehouse
from cae.cli import main
from cae.datasets.synth import SynthConfig, generate_market, write_market
from cae.panel import build_panel, read_panel
from cae.warehouse.actions import detect_actions


@pytest.fixture(scope="module")
def market():
    return generate_market(SynthConfig(n_tickers=60, n_days=300, seed=5, split_share=0.2))


def test_same_seed_same_market(market):
    again = generate_market(SynthConfig(n_tickers=60, n_days=300, seed=5, split_share=0.2))
    assert market[0].equals(again[0])
    other = generate_market(SynthConfig(n_tickers=60, n_days=300, seed=6, split_share=0.2))
    assert not market[0].equals(other[0])


def test_market_is_unbalanced_and_well_formed(market):
    prices, tickers = market
    per_ticker = prices.group_by("ticker").agg(pl.len().alias("n"))
    assert per_ticker.height == 60
    assert per_ticker["n"].min() < 300  # late listings, delistings and gaps
    assert prices.filter(pl.col("high") < pl.col("low")).height == 0
    assert prices.filter(pl.col("close") > pl.col("high") * (1 + 1e-12)).height == 0
    assert prices["date"].dt.weekday().max() <= 5
    assert tickers["sector"].null_count() == 0


def test_synthetic_splits_are_detected_and_returns_stay_plausible(market, cae_home):
    con = warehouse.connect()
    write_market(con, *market)
    applied = detect_actions(con).filter("is_applied")
    assert applied.height >= 5
    build_panel(con, "daily")
    daily = read_panel(con, "daily", normalise=False)
    assert daily["ret"].abs().max() < 2.5  # the generator clips daily returns to [-0.9, 2]


def test_cli_synth_actions_and_build_panel(cae_home, capsys):
    assert main(["synth", "--tickers", "30", "--days", "260", "--seed", "2"]) == 0
    assert main(["actions"]) == 0
    assert main(["build-panel", "--freq", "weekly"]) == 0
    out = capsys.readouterr().out
    assert "synthetic market:" in out
    assert "characteristics_weekly:" in out
    assert main(["build-panel", "--freq", "hourly"]) == 1
    assert "unknown frequency 'hourly'" in capsys.readouterr().err
