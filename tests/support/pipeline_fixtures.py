"""A small synthetic market as price files, and a run config sized for it (pipeline tests)."""

import os
from pathlib import Path

import polars as pl

from cae.datasets.synth import SynthConfig, generate_market
from cae.evaluation.windows import WindowPlan
from cae.pipeline import RunConfig

# 30 tickers x 150 sessions: about 130 panel dates after the one-month universe history.
MARKET = SynthConfig(n_tickers=30, n_days=150, seed=3)
SMALL = RunConfig(
    models=("CA0", "pca", "cross_sectional"),
    n_factors=2,
    windows=WindowPlan(n_train=60, n_val=15, n_test=20),
    ca_max_epochs=2,
    ca_seeds=1,
    keep_betas=False,
    workers=2,
    threads=1,
)


def market_prices() -> pl.DataFrame:
    """Return the synthetic market's daily prices, sorted by date and ticker."""
    prices, _ = generate_market(MARKET)
    return prices.sort("date", "ticker")


def write_prices(frame: pl.DataFrame, path: Path) -> Path:
    """Write price rows as a CSV file aged past the drop folder's settle time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path)
    os.utime(path, (0, 0))
    return path
