from dataclasses import dataclass, replace

import pytest
import torch

from cae.datasets.simulate import SimConfig, simulate_panel
from cae.errors import ConfigError
from cae.evaluation.selection import SelectedModel, config_grid, select_model
from cae.models.base import FactorModel
from cae.models.pca import PCA


@dataclass(frozen=True)
class ScaleConfig:
    scale: float = 1.0
    tag: tuple = (1, 2)


class Scaled(FactorModel):
    """Predicts scale * y: total R2 is 1 - (1 - scale)^2 exactly."""

    n_factors = 1

    def __init__(self, config):
        self.scale = config.scale
        self.seen = None

    def fit(self, train, val=None):
        self.seen = (train.n_dates, None if val is None else val.n_dates)
        self.factors_ = torch.ones(train.n_dates, 1)
        return self

    def betas(self, panel):
        return (self.scale * panel.y).unsqueeze(-1)

    def factors(self, panel):
        return torch.ones(panel.n_dates, 1)


def small_panel():
    return simulate_panel(SimConfig(n_dates=30, n_tickers=20, n_chars=3, seed=0)).panel


def test_config_grid_is_the_product_with_last_field_fastest():
    grid = config_grid(ScaleConfig(), scale=[0.5, 1.0], tag=[(1,), (2,)])
    assert [(c.scale, c.tag) for c in grid] == [(0.5, (1,)), (0.5, (2,)), (1.0, (1,)), (1.0, (2,))]


def test_config_grid_rejects_unknown_fields():
    with pytest.raises(ConfigError, match=r"ScaleConfig has no field\(s\) \['depth'\]"):
        config_grid(ScaleConfig(), depth=[1, 2])


def test_selects_the_best_validation_r2_and_keeps_every_score():
    panel = small_panel()
    train, val = panel.slice_dates(0, 20), panel.slice_dates(20, 30)
    configs = config_grid(ScaleConfig(), scale=[0.0, 0.5, 1.0, 1.5])
    result = select_model(Scaled, configs, train, val)
    assert result.best_config.scale == 1.0 and result.best_index == 2
    assert result.scores.height == 4
    assert result.scores["r2_total"].to_list() == pytest.approx([0.0, 0.75, 1.0, 0.75], abs=1e-6)
    assert result.scores["selected"].to_list() == [False, False, True, False]
    assert result.scores["tag"].to_list() == ["[1, 2]"] * 4
    assert result.best_score == pytest.approx(1.0)


def test_candidates_are_fitted_on_train_with_val_passed_for_early_stopping():
    panel = small_panel()
    seen = []

    def factory(config):
        model = Scaled(config)
        original = model.fit

        def fit(train, val=None):
            seen.append((train.dates[-1], val.dates[0]))
            return original(train, val)

        model.fit = fit
        return model

    select_model(factory, [ScaleConfig()], panel.slice_dates(0, 20), panel.slice_dates(20, 30))
    assert seen == [(panel.dates[19], panel.dates[20])]


def test_nan_score_never_wins_and_ties_keep_the_first():
    panel = small_panel()
    train, val = panel.slice_dates(0, 20), panel.slice_dates(20, 30)
    zero_val = replace(val, y=torch.zeros_like(val.y))
    result = select_model(Scaled, [ScaleConfig(0.5), ScaleConfig(1.0)], train, zero_val)
    assert result.best_index == 0  # every score is NaN (sum y^2 = 0)
    tie = select_model(Scaled, [ScaleConfig(0.5), ScaleConfig(1.5)], train, val)
    assert tie.best_index == 0


def test_selects_number_of_pca_factors_on_a_simulated_panel():
    sim = simulate_panel(SimConfig(n_dates=80, n_tickers=60, n_chars=4, seed=2))
    train, val = sim.panel.slice_dates(0, 60), sim.panel.slice_dates(60, 80)

    @dataclass(frozen=True)
    class K:
        n_factors: int = 1

    result = select_model(
        lambda c: PCA(c.n_factors), config_grid(K(), n_factors=[1, 2, 3]), train, val
    )
    scores = result.scores["r2_total"].to_list()
    assert result.best_index == scores.index(max(scores))
    assert result.scores["n_factors"].to_list() == [1, 2, 3]


def test_bad_criterion_is_a_config_error():
    panel = small_panel()
    with pytest.raises(ConfigError, match="criterion must be 'total' or 'predictive'"):
        select_model(Scaled, [ScaleConfig()], panel, panel, criterion="sharpe")


def test_selected_model_acts_as_the_winner_fitted_on_train():
    panel = small_panel()
    train, val = panel.slice_dates(0, 20), panel.slice_dates(20, 30)
    model = SelectedModel(Scaled, [ScaleConfig(0.5), ScaleConfig(1.0)]).fit(train, val)
    assert model.selection_.best_index == 1
    assert model.model_.scale == 1.0 and model.model_.seen == (20, 10)
    assert model.score(val) == pytest.approx(1.0, abs=1e-6)
    assert model.selection_.scores.height == 2


def test_selected_model_needs_a_validation_block():
    panel = small_panel()
    with pytest.raises(ConfigError, match="needs a validation block"):
        SelectedModel(Scaled, [ScaleConfig()]).fit(panel, None)


def test_selected_model_runs_inside_evaluate_without_joining_val_to_train():
    from cae.evaluation.evaluate import evaluate
    from cae.evaluation.windows import WindowPlan

    sim = simulate_panel(SimConfig(n_dates=50, n_tickers=30, n_chars=4, seed=3))

    @dataclass(frozen=True)
    class K:
        n_factors: int = 1

    grid = config_grid(K(), n_factors=[1, 2])
    out = evaluate(
        sim.panel,
        WindowPlan(n_train=25, n_val=10, n_test=15),
        [("pca_selected", lambda: SelectedModel(lambda c: PCA(c.n_factors), grid))],
    )
    assert out.summary()["n_factors"][0] in (1, 2)
    assert out.fitted.height == int(sim.panel.mask[35:].sum())
