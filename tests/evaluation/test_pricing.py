import math

import polars as pl
import pytest
import torch

from cae.evaluation.pricing import MARKET, pool_pricing_errors, portfolio_returns, pricing_rows

# Two tickers with characteristic -1 and +1, three dates and a fourth with nothing observed.
# The managed portfolio of c1 is then (r_B - r_A) / 2, the market the mean (r_A + r_B) / 2.
Y = [[0.01, 0.03], [0.02, -0.02], [0.00, 0.04], [0.0, 0.0]]
Y_TOTAL = [[0.00, 0.02], [0.01, -0.01], [0.00, 0.00], [0.0, 0.0]]
MASK = [[True, True], [True, True], [True, True], [False, False]]


def _panel(make_panel):
    X = torch.tensor([[-1.0], [1.0]]).expand(4, 2, 1)
    return make_panel(Y, torch.tensor(MASK), X)


def _rows(make_panel, y_pred=None):
    panel = _panel(make_panel)
    y_total = torch.tensor(Y_TOTAL)
    y_pred = torch.zeros(4, 2) if y_pred is None else y_pred
    return pricing_rows(0, "m", panel, y_total, y_pred)


def test_market_alpha_and_t_statistic_match_a_hand_computation(make_panel):
    market = _rows(make_panel).filter(pl.col("asset") == MARKET).row(0, named=True)
    # x = (0.02, 0.00, 0.02), fitted (0.01, 0.00, 0.00): errors (0.01, 0.00, 0.02); the masked
    # fourth date is not a test date.
    assert market["n_dates"] == 3
    assert market["mean_ret"] == pytest.approx(0.04 / 3)
    assert market["alpha"] == pytest.approx(0.01)
    # deviations (0, -0.01, 0.01): sd = sqrt(2e-4 / 2) = 0.01, t = 0.01 / (0.01 / sqrt(3))
    assert market["t_alpha"] == pytest.approx(math.sqrt(3))
    # R2 total = 1 - (1e-4 + 0 + 4e-4) / (4e-4 + 0 + 4e-4); predictive fit 0 -> R2 0
    assert market["r2_total"] == pytest.approx(1 - 5 / 8)
    assert market["r2_pred"] == pytest.approx(0.0)


def test_portfolios_weight_each_observed_ticker_by_its_characteristic_over_n(make_panel):
    X = torch.tensor([[[-1.0], [0.0], [1.0], [0.5]]])  # (1, 4, 1); the fourth is not observed
    panel = make_panel([[0.03, 0.00, 0.06, 9.0]], torch.tensor([[True, True, True, False]]), X)
    # KPS (2019) eq. 6: x = Z'r / N = [(0.03 + 0 + 0.06) / 3, (-0.03 + 0 + 0.06) / 3]; a
    # regression on Z would give the slope 0.015 instead.
    x = portfolio_returns(panel, panel.y)
    assert x.tolist() == [pytest.approx([0.03, 0.01])]


def test_characteristic_portfolio_of_two_tickers_by_hand(make_panel):
    c1 = _rows(make_panel).filter(pl.col("asset") == "c1").row(0, named=True)
    # x = (0.01, -0.02, 0.02), fitted (0.01, -0.01, 0.00): errors (0, -0.01, 0.02)
    assert c1["mean_ret"] == pytest.approx(0.01 / 3, abs=1e-9)
    assert c1["alpha"] == pytest.approx(0.01 / 3, abs=1e-9)
    assert c1["r2_total"] == pytest.approx(1 - 5e-4 / 9e-4, abs=1e-6)


def test_predictive_alpha_and_r2_use_the_predictive_fit(make_panel):
    # predictive market fit (0.01, 0.01, 0.01): errors (0.01, -0.01, 0.01)
    y_pred = torch.full((4, 2), 0.01)
    market = _rows(make_panel, y_pred).filter(pl.col("asset") == MARKET).row(0, named=True)
    assert market["alpha_pred"] == pytest.approx(0.01 / 3)
    # deviations (2, -4, 2) / 300: sd = sqrt(24e-4 / 9 / 2), t = alpha / (sd / sqrt(3))
    sd = math.sqrt(24e-4 / 9 / 2)
    assert market["t_alpha_pred"] == pytest.approx(0.01 / 3 / (sd / math.sqrt(3)))
    assert market["r2_pred"] == pytest.approx(1 - 3e-4 / 8e-4)
    assert market["alpha"] == pytest.approx(0.01)  # the total fit's alpha is unchanged


def test_pooled_rows_equal_the_statistics_of_the_dates_put_end_to_end(make_panel):
    panel = _panel(make_panel)
    y_total, y_pred = torch.tensor(Y_TOTAL), torch.tensor(Y) * 0.5
    whole = pricing_rows(0, "m", panel, y_total, y_pred)
    parts = pl.concat(
        [
            pricing_rows(0, "m", panel.slice_dates(0, 2), y_total[:2], y_pred[:2]),
            pricing_rows(1, "m", panel.slice_dates(2, 4), y_total[2:], y_pred[2:]),
        ]
    )
    pooled = pool_pricing_errors(parts)
    assert pooled["window_id"].null_count() == pooled.height == 2
    assert pooled["n_dates"].to_list() == [3, 3]
    statistics = (
        "mean_ret",
        "alpha",
        "t_alpha",
        "alpha_pred",
        "t_alpha_pred",
        "r2_total",
        "r2_pred",
    )
    for column in statistics:
        assert pooled[column].to_list() == pytest.approx(whole[column].to_list()), column


def test_one_date_has_no_t_statistic(make_panel):
    panel = _panel(make_panel).slice_dates(0, 1)
    rows = pricing_rows(0, "m", panel, torch.tensor(Y_TOTAL[:1]), torch.zeros(1, 2))
    assert rows["t_alpha"].null_count() == rows["t_alpha_pred"].null_count() == rows.height
