import math
from datetime import date

import numpy as np
import polars as pl
import pytest
import torch

from cae.evaluation.long_short import (
    long_short_returns,
    long_short_rows,
    long_short_summary,
    max_drawdown,
)
from cae.evaluation.metrics import sharpe_ratio


def test_two_stocks_go_long_the_higher_prediction_and_short_the_lower(make_panel):
    y = [[0.05, -0.01], [0.02, 0.03], [0.04, 0.00]]
    y_hat = torch.tensor([[0.1, 0.2], [0.3, -0.1], [0.0, 0.0]])
    mask = torch.tensor([[True, True], [True, True], [True, False]])
    rows = long_short_rows(3, "m", make_panel(y, mask), y_hat)
    # date 0: long B (-0.01) - short A (0.05); date 1: long A (0.02) - short B (0.03);
    # date 2 has one ticker: no portfolio, no row.
    assert rows["ret_ew"].to_list() == pytest.approx([-0.06, -0.01])
    assert rows["n_leg"].to_list() == [1, 1]
    assert rows["window_id"].to_list() == [3, 3]
    assert rows["date"].to_list() == make_panel(y, mask).dates[:2].tolist()


def test_deciles_of_twenty_tickers_hold_two_each():
    y = torch.arange(20.0).view(1, 20)
    spread, n_leg = long_short_returns(y, -y, torch.ones(1, 20, dtype=torch.bool))
    # top predicted = tickers 0, 1 (y 0, 1); bottom = tickers 18, 19
    assert spread.tolist() == [0.5 - 18.5]
    assert n_leg.tolist() == [2]


def test_masked_tickers_are_ignored_and_the_legs_match_a_loop():
    g = torch.Generator().manual_seed(3)
    y, y_hat = torch.randn(6, 40, generator=g), torch.randn(6, 40, generator=g)
    mask = torch.rand(6, 40, generator=g) > 0.25
    spread, _ = long_short_returns(y, y_hat, mask)
    for t in range(6):
        obs = mask[t].numpy()
        yt = y[t].numpy()[obs][np.argsort(y_hat[t].numpy()[obs], kind="stable")]
        k = max(1, obs.sum() // 10)
        assert math.isclose(spread[t], yt[-k:].mean() - yt[:k].mean(), abs_tol=1e-6)


def test_max_drawdown_is_the_largest_fall_of_the_summed_returns():
    # cumulative 0.01, -0.01, 0.02: the fall from 0.01 to -0.01
    assert max_drawdown(torch.tensor([0.01, -0.02, 0.03])) == pytest.approx(0.02)
    # a first-period loss falls from 0
    assert max_drawdown(torch.tensor([-0.01, 0.02])) == pytest.approx(0.01)


def test_summary_annualises_by_the_periods_per_year():
    rows = pl.DataFrame(
        {
            "window_id": [1, 0, 0],
            "model": ["m"] * 3,
            "date": [date(2020, 3, 31), date(2020, 1, 31), date(2020, 2, 29)],
            "n_leg": [1, 1, 1],
            "ret_ew": [0.03, 0.01, -0.02],
        }
    )
    got = long_short_summary(rows, 12).row(0, named=True)
    r = torch.tensor([0.01, -0.02, 0.03], dtype=torch.float64)
    assert got["n_dates"] == 3
    assert got["mean_annual"] == pytest.approx(0.02 / 3 * 12)
    assert got["volatility_annual"] == pytest.approx(float(r.std()) * math.sqrt(12))
    assert got["sharpe_annual"] == pytest.approx(sharpe_ratio(r, 12))
    assert got["max_drawdown"] == pytest.approx(0.02)  # dates in order, not row order
