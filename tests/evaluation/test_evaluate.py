import math
from dataclasses import replace
from typing import ClassVar

import numpy as np
import polars as pl
import pytest
import torch

from cae.datasets.simulate import Oracle, SimConfig, simulate_panel
from cae.evaluation.evaluate import evaluate, evaluate_window
from cae.evaluation.metrics import r2_uncentered
from cae.evaluation.windows import WindowPlan, plan_windows
from cae.models.base import FactorModel
from cae.models.ipca import IPCA
from cae.models.pca import PCA

PLAN = WindowPlan(n_train=30, n_val=10, n_test=10)


@pytest.fixture(scope="module")
def sim():
    return simulate_panel(SimConfig(n_dates=70, n_tickers=40, n_chars=4, seed=7))


@pytest.fixture(scope="module")
def result(sim):
    models = [
        ("pca", lambda: PCA(n_factors=3)),
        ("ipca", lambda: IPCA(n_factors=3)),
        ("oracle", lambda: Oracle(sim)),
    ]
    return evaluate(sim.panel, PLAN, models)


def test_frames_have_the_design_columns(result):
    assert result.windows.columns == [
        "window_id",
        "train_start",
        "train_end",
        "val_start",
        "val_end",
        "test_start",
        "test_end",
    ]
    assert result.betas.columns == ["window_id", "model", "date", "ticker", "factor", "beta"]
    assert result.factors.columns == ["window_id", "model", "date", "factor", "value", "lambda"]
    assert result.fitted.columns == [
        "window_id",
        "model",
        "date",
        "ticker",
        "ret",
        "ret_hat_total",
        "ret_hat_pred",
    ]
    assert result.metrics.columns[:7] == [
        "window_id",
        "model",
        "n_factors",
        "split",
        "r2_total",
        "r2_pred",
        "n_obs",
    ]
    assert result.fitted.schema["date"] == pl.Date


def test_row_counts_follow_windows_models_and_observed_cells(sim, result):
    windows = plan_windows(PLAN, sim.panel.dates)
    assert result.windows.height == len(windows) == 3
    n_test_obs = sum(int(sim.panel.mask[w.test[0] : w.test[1]].sum()) for w in windows)
    assert result.fitted.height == 3 * n_test_obs
    assert result.betas.height == 3 * n_test_obs * 3
    assert result.factors.height == 3 * 30 * 3  # models x test dates x factors
    # 3 windows x 3 models x 3 splits + 3 pooled rows
    assert result.metrics.height == 27 + 3


def test_pooled_r2_equals_r2_over_all_fitted_test_cells(result):
    for name in ("pca", "ipca", "oracle"):
        f = result.fitted.filter(pl.col("model") == name)
        y = f["ret"].to_numpy()
        expected_total = 1 - ((y - f["ret_hat_total"].to_numpy()) ** 2).sum() / (y**2).sum()
        expected_pred = 1 - ((y - f["ret_hat_pred"].to_numpy()) ** 2).sum() / (y**2).sum()
        row = result.summary().filter(pl.col("model") == name).row(0, named=True)
        assert math.isclose(row["r2_total"], expected_total, rel_tol=1e-6)
        assert math.isclose(row["r2_pred"], expected_pred, rel_tol=1e-6)


def test_window_test_r2_matches_the_model_score(sim, result):
    w = plan_windows(PLAN, sim.panel.dates)[1]
    train, val, test = w.split(sim.panel)
    model = PCA(n_factors=3).fit(sim.panel.slice_dates(w.train[0], w.val[1]))
    history = torch.cat([model.factors(train), model.factors(val)])
    row = result.metrics.filter(
        (pl.col("window_id") == 1) & (pl.col("model") == "pca") & (pl.col("split") == "test")
    ).row(0, named=True)
    assert math.isclose(row["r2_total"], model.score(test), rel_tol=1e-9)
    assert math.isclose(row["r2_pred"], model.score(test, "predictive", history), rel_tol=1e-9)


def test_lambda_at_the_first_test_date_is_the_mean_of_train_and_val_factors(sim, result):
    w = plan_windows(PLAN, sim.panel.dates)[0]
    oracle_lambda = (
        result.factors.filter(
            (pl.col("model") == "oracle") & (pl.col("window_id") == 0) & (pl.col("factor") == "f1")
        )
        .sort("date")["lambda"]
        .to_numpy()
    )
    f = sim.factors[:, 0].double().numpy()
    assert math.isclose(oracle_lambda[0], f[: w.test[0]].mean(), rel_tol=1e-6)
    assert math.isclose(oracle_lambda[3], f[: w.test[0] + 3].mean(), rel_tol=1e-6)


def test_perturbing_later_dates_leaves_earlier_windows_unchanged(sim, result):
    # Dates from 60 on belong only to the last window's test block.
    y = sim.panel.y.clone()
    y[60:] += 2.0 * sim.panel.mask[60:]
    panel2 = replace(sim.panel, y=y)
    again = evaluate(panel2, PLAN, [("pca", lambda: PCA(n_factors=3))])
    before = result.fitted.filter((pl.col("model") == "pca") & (pl.col("window_id") < 2))
    after = again.fitted.filter(pl.col("window_id") < 2)
    assert before.equals(after)
    last_before = result.fitted.filter((pl.col("model") == "pca") & (pl.col("window_id") == 2))
    assert not last_before.equals(again.fitted.filter(pl.col("window_id") == 2))
    # within the last window, dates before 60 keep their predictive fits too
    cut = np.datetime64(sim.panel.dates[60], "D")
    early_b = last_before.filter(pl.col("date") < cut)
    early_a = again.fitted.filter((pl.col("window_id") == 2) & (pl.col("date") < cut))
    assert early_b.equals(early_a)


class Spy(FactorModel):
    n_factors = 1
    calls: ClassVar[list] = []

    def __init__(self, joint):
        self.fit_on_train_and_val = joint

    def fit(self, train, val=None):
        Spy.calls.append((train.n_dates, None if val is None else val.n_dates))
        self.factors_ = torch.ones(train.n_dates, 1)
        return self

    def betas(self, panel):
        return torch.zeros(panel.n_dates, panel.n_tickers, 1)

    def factors(self, panel):
        return torch.ones(panel.n_dates, 1)


def test_models_without_selection_fit_on_train_and_val_others_get_val(sim):
    w = plan_windows(PLAN, sim.panel.dates)[0]
    Spy.calls = []
    evaluate_window(sim.panel, w, [("joint", lambda: Spy(True)), ("early", lambda: Spy(False))])
    assert Spy.calls == [(40, None), (30, 10)]


def test_oracle_total_r2_is_near_the_calibrated_target(result):
    row = result.summary().filter(pl.col("model") == "oracle").row(0, named=True)
    assert 0.3 < row["r2_total"] < 0.5
    assert row["r2_pred"] < row["r2_total"]


def test_keep_betas_false_gives_an_empty_betas_table(sim):
    out = evaluate(sim.panel, PLAN, [("pca", lambda: PCA(n_factors=2))], keep_betas=False)
    assert out.betas.height == 0 and out.betas.columns[-1] == "beta"
    assert out.fitted.height > 0


def test_oracle_on_one_window_scores_true_betas_times_true_factors(sim):
    w = plan_windows(PLAN, sim.panel.dates)[:1]
    start, stop = w[0].test
    out = evaluate(sim.panel, w, [("oracle", lambda: Oracle(sim))])
    test = sim.panel.slice_dates(start, stop)
    y_hat = torch.einsum("tnk,tk->tn", sim.betas[start:stop], sim.factors[start:stop])
    expected = r2_uncentered(test.y, y_hat, test.mask)
    assert math.isclose(out.summary()["r2_total"][0], expected, rel_tol=1e-6)


def test_in_sample_predictive_uses_the_mean_of_all_training_factors(sim, result):
    w = plan_windows(PLAN, sim.panel.dates)[0]
    train = sim.panel.slice_dates(*w.train)
    lam = sim.factors[w.train[0] : w.train[1]].mean(dim=0)
    y_hat = torch.einsum("tnk,k->tn", sim.betas[w.train[0] : w.train[1]], lam)
    row = result.metrics.filter(
        (pl.col("window_id") == 0) & (pl.col("model") == "oracle") & (pl.col("split") == "train")
    ).row(0, named=True)
    assert math.isclose(row["r2_pred"], r2_uncentered(train.y, y_hat, train.mask), rel_tol=1e-5)


def test_all_baselines_survive_a_difficult_unbalanced_panel(sim):
    from cae.models import IPCA as IPCA_
    from cae.models import CrossSectional, Observable

    mask = sim.panel.mask.clone()
    mask[:45, :5] = False  # five tickers list only in the last window's test block
    mask[55] = False  # a test date with nobody observed
    mask[:, 5] = False
    mask[20:23, 5] = True  # a ticker seen three times in training, then gone
    panel = replace(sim.panel, y=sim.panel.y * mask, X=sim.panel.X * mask.unsqueeze(-1), mask=mask)
    models = [
        ("pca", lambda: PCA(n_factors=3)),
        ("ipca", lambda: IPCA_(n_factors=3, intercept=True)),
        ("observable", lambda: Observable()),
        ("cross_sectional", lambda: CrossSectional()),
    ]
    out = evaluate(panel, PLAN, models)
    assert out.metrics.filter(pl.col("split") == "test")["r2_total"].is_finite().all()
    assert out.factors["value"].is_finite().all() and out.factors["lambda"].is_finite().all()
    # windows 0 and 1 saw tickers 0-4 fewer than min_obs times in training (0 and 5 dates)
    new = out.fitted.filter(
        pl.col("ticker").is_in(list(panel.tickers[:5])) & (pl.col("window_id") < 2)
    )
    assert new.height > 0
    # PCA and observable have no beta for them, so a zero prediction
    for name in ("pca", "observable"):
        assert (new.filter(pl.col("model") == name)["ret_hat_total"] == 0).all()
    # IPCA and cross-sectional betas come from characteristics, so new tickers get fits
    assert (new.filter(pl.col("model") == "ipca")["ret_hat_total"] != 0).all()
    assert out.fitted.filter(pl.col("date") == np.datetime64(panel.dates[55], "D")).height == 0


def test_inputs_say_which_characteristics_a_model_used_per_window(sim):
    X = sim.panel.X.clone()
    X[:25, :, 3] = 0.0  # absent on 25 of window 0's 30 training dates: left out
    X[:5, :, 2] = 0.0  # absent on 5: used, those dates left out of the fit
    panel = replace(sim.panel, X=X)
    window = plan_windows(PLAN, panel.dates)[0]
    models = [("pca", lambda: PCA(n_factors=2)), ("ipca", lambda: IPCA(n_factors=2))]
    inputs = evaluate_window(panel, window, models).inputs
    names = list(panel.char_names)
    assert inputs["model"].unique().to_list() == ["ipca"]  # PCA uses no characteristics
    assert inputs["characteristic"].to_list() == names
    assert inputs["is_used"].to_list() == [True, True, True, False]
    assert inputs["n_fit_dates_left_out"].unique().to_list() == [5]
