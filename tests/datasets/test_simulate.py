import math

import numpy as np
import pytest
import torch

from cae.datasets.simulate import Oracle, SimConfig, simulate_panel
from cae.errors import ConfigError
from cae.evaluation.metrics import r2_uncentered

SMALL = SimConfig(n_dates=60, n_tickers=50, n_chars=5, seed=3)


def test_shapes_and_timing_fields():
    sim = simulate_panel(SMALL)
    p = sim.panel
    assert p.X.shape == (60, 50, 5)
    assert p.y.shape == (60, 50) and p.mask.shape == (60, 50)
    assert sim.betas.shape == (60, 50, 3) and sim.factors.shape == (60, 3)
    assert p.target == "forward"
    assert p.char_names == ("c1", "c2", "c3", "c4", "c5")
    assert p.dates[1] - p.dates[0] == np.timedelta64(31, "D")


def test_same_seed_same_panel_other_seed_differs():
    a, b = simulate_panel(SMALL), simulate_panel(SMALL)
    c = simulate_panel(SimConfig(n_dates=60, n_tickers=50, n_chars=5, seed=4))
    assert torch.equal(a.panel.y, b.panel.y) and torch.equal(a.panel.X, b.panel.X)
    assert not torch.equal(a.panel.y, c.panel.y)


@pytest.mark.parametrize("shape", ["linear", "nonlinear"])
def test_oracle_total_r2_hits_the_target(shape):
    sim = simulate_panel(SimConfig(n_dates=60, n_tickers=50, beta_shape=shape, seed=1))
    y_hat = torch.einsum("tnk,tk->tn", sim.betas, sim.factors)
    assert math.isclose(r2_uncentered(sim.panel.y, y_hat, sim.panel.mask), 0.40, abs_tol=1e-4)


def test_characteristics_are_ranks_in_unit_interval_over_observed_tickers():
    sim = simulate_panel(SMALL)
    p = sim.panel
    t = 0
    obs = p.mask[t]
    n_obs = int(obs.sum())
    col = p.X[t, obs, 0]
    expected = 2.0 * torch.arange(1, n_obs + 1) / (n_obs + 1) - 1.0
    assert torch.allclose(col.sort().values, expected.float(), atol=1e-6)
    assert torch.all(p.X[~p.mask] == 0) and torch.all(p.y[~p.mask] == 0)


def test_panel_is_unbalanced_with_listings_and_delistings():
    sim = simulate_panel(SimConfig(n_dates=60, n_tickers=200, seed=0))
    per_ticker = sim.panel.mask.sum(dim=0)
    assert per_ticker.min() < 60 and per_ticker.max() == 60
    assert sim.panel.mask[0].sum() < 200 and sim.panel.mask[-1].sum() < 200


def test_nonlinear_betas_are_square_interaction_and_sign():
    sim = simulate_panel(SimConfig(n_dates=10, n_tickers=20, beta_shape="nonlinear", seed=2))
    X, m = sim.panel.X, sim.panel.mask
    assert torch.allclose(sim.betas[..., 0][m], (X[..., 0] ** 2)[m])
    assert torch.allclose(sim.betas[..., 1][m], (X[..., 0] * X[..., 1])[m])
    assert torch.allclose(sim.betas[..., 2][m], torch.sign(X[..., 2])[m])


def test_characteristics_are_persistent():
    sim = simulate_panel(SimConfig(n_dates=120, n_tickers=100, listing_fraction=0.0, seed=5))
    X = sim.panel.X[..., 0]
    corr = torch.corrcoef(torch.stack([X[:-1].flatten(), X[1:].flatten()]))[0, 1]
    assert corr > 0.8


def test_oracle_slices_by_date():
    sim = simulate_panel(SMALL)
    oracle = Oracle(sim).fit(sim.panel.slice_dates(0, 40))
    test = sim.panel.slice_dates(40, 60)
    assert torch.equal(oracle.factors(test), sim.factors[40:60])
    assert torch.equal(oracle.betas(test), sim.betas[40:60])
    assert oracle.factors_.shape == (40, 3)
    assert math.isclose(oracle.score(sim.panel), 0.40, abs_tol=1e-4)


def test_bad_beta_shape_is_a_config_error():
    with pytest.raises(ConfigError, match="beta_shape must be 'linear' or 'nonlinear'"):
        simulate_panel(SimConfig(beta_shape="cubic"))


def test_oracle_rejects_dates_outside_the_simulation(make_panel):
    sim = simulate_panel(SMALL)
    other = make_panel(torch.zeros(3, 50), start="1990-01")
    with pytest.raises(ConfigError, match="dates that are not in the simulation"):
        Oracle(sim).betas(other)


def test_too_few_characteristics_is_a_config_error():
    with pytest.raises(ConfigError, match="n_chars must be at least 3, not 2"):
        simulate_panel(SimConfig(n_chars=2))


def test_gkx_design_has_the_papers_shape_weights_and_noise():
    sim = simulate_panel(SimConfig.gkx("nonlinear", seed=1))
    p = sim.panel
    assert p.X.shape == (180, 200, 50) and bool(p.mask.all())
    assert sim.noise_scale == 0.1
    c1, c2, c3 = p.X[..., 0], p.X[..., 1], p.X[..., 2]
    expected = torch.stack([c1**2, 2 * c1 * c2, 0.6 * torch.sign(c3)], dim=-1)
    assert torch.allclose(sim.betas, expected, atol=1e-6)
    assert abs(float(sim.factors.mean()) - 0.03) < 0.03
    linear = simulate_panel(SimConfig.gkx("linear", seed=1, n_dates=20))
    X = linear.panel.X
    assert torch.allclose(linear.betas[..., 0], 1.2 * X[..., 0], atol=1e-6)
    assert torch.allclose(linear.betas[..., 2], 0.8 * X[..., 2], atol=1e-6)


def test_fixed_noise_scale_sets_the_residual_scale():
    sim = simulate_panel(SimConfig(n_dates=40, n_tickers=30, noise_scale=0.2, seed=0))
    resid = sim.panel.y - torch.einsum("tnk,tk->tn", sim.betas, sim.factors)
    t5_std = math.sqrt(5 / 3)
    assert abs(float(resid[sim.panel.mask].std()) / (0.2 * t5_std) - 1) < 0.15
