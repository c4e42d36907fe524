import numpy as np
import pytest
import torch

from cae.errors import PanelError
from cae.models.pca import PCA

G = torch.Generator().manual_seed(0)


def low_rank(T=40, N=15, K=2, noise=0.0):
    f = torch.randn(T, K, generator=G, dtype=torch.float64) * 0.05 + 0.01
    beta = torch.randn(N, K, generator=G, dtype=torch.float64)
    return f @ beta.T + noise * torch.randn(T, N, generator=G, dtype=torch.float64)


def test_noiseless_rank_k_panel_is_fitted_exactly(make_panel):
    panel = make_panel(low_rank())
    model = PCA(n_factors=2, ridge=0.0).fit(panel)
    assert model.score(panel) == pytest.approx(1.0, abs=1e-6)
    assert model.betas(panel).shape == (40, 15, 2)
    assert model.factors_.shape == (40, 2)


def test_balanced_panel_matches_truncated_svd(make_panel):
    y = low_rank(noise=0.05)
    panel = make_panel(y)
    model = PCA(n_factors=2, tol=1e-12, ridge=0.0).fit(panel)
    u, s, vh = torch.linalg.svd(panel.y.double())
    best = (u[:, :2] * s[:2]) @ vh[:2]
    assert torch.allclose(model.predict(panel).double(), best, atol=1e-4)


def test_components_are_orthogonal_balanced_and_decreasing(make_panel):
    model = PCA(n_factors=2).fit(make_panel(low_rank(noise=0.05)))
    bb = model.beta_.T @ model.beta_
    ff = model.factors_.double().T @ model.factors_.double()
    assert abs(float(bb[0, 1])) < 1e-8 and abs(float(ff[0, 1])) < 1e-5
    assert torch.allclose(torch.diagonal(bb), torch.diagonal(ff), rtol=1e-5)
    assert bb[0, 0] >= bb[1, 1]


def test_ridge_shrinks_singular_values_by_the_penalty(make_panel):
    y = low_rank(noise=0.05)
    panel = make_panel(y)
    model = PCA(n_factors=2, ridge=0.5, tol=1e-14, max_iter=5000).fit(panel)
    s_fit = torch.linalg.svdvals(model.predict(panel).double())[:2]
    s_data = torch.linalg.svdvals(panel.y.double())[:2]
    assert torch.allclose(s_fit, s_data - model.ridge_, rtol=1e-4)


def test_ridge_out_of_sample_factors_match_penalised_training_factors(make_panel):
    panel = make_panel(low_rank(noise=0.05))
    model = PCA(n_factors=2, ridge=0.5, tol=1e-14, max_iter=5000).fit(panel)
    assert torch.allclose(model.factors(panel), model.factors_, atol=1e-5)


def test_masked_cell_changes_nothing(make_panel):
    y = low_rank(noise=0.05)
    mask = torch.rand(40, 15, generator=G) > 0.2
    a = PCA(n_factors=2).fit(make_panel(y, mask))
    y2 = y.clone()
    y2[~mask] = 1e3
    panel2 = make_panel(y2, mask)
    assert torch.all(panel2.y[~mask] == 0)
    # Build the panel by hand too, with garbage in masked cells of y, to check fit ignores them.
    from dataclasses import replace

    dirty = replace(panel2, y=torch.where(mask, panel2.y, torch.tensor(1e3)))
    b = PCA(n_factors=2).fit(dirty)
    assert torch.allclose(a.beta_, b.beta_, atol=1e-10)
    assert torch.allclose(a.predict(panel2), b.predict(dirty))


def test_unbalanced_panel_fits_observed_cells(make_panel):
    mask = torch.rand(40, 15, generator=G) > 0.3
    panel = make_panel(low_rank(), mask)
    assert PCA(n_factors=2, ridge=0.0).fit(panel).score(panel) == pytest.approx(1.0, abs=1e-6)


def test_out_of_sample_factors_match_per_date_lstsq(make_panel):
    y = low_rank(T=60, noise=0.05)
    mask = torch.rand(60, 15, generator=G) > 0.2
    panel = make_panel(y, mask)
    model = PCA(n_factors=2, ridge=0.0).fit(panel.slice_dates(0, 40))
    test = panel.slice_dates(40, 60)
    f = model.factors(test)
    beta = model.beta_.numpy()
    for t in range(20):
        obs = test.mask[t].numpy()
        expected, *_ = np.linalg.lstsq(beta[obs], test.y[t].numpy()[obs].astype(float), rcond=None)
        assert np.allclose(f[t].numpy(), expected, atol=1e-5)


def test_ridge_out_of_sample_factors_match_per_date_ridge_solve(make_panel):
    y = low_rank(T=60, noise=0.05)
    mask = torch.rand(60, 15, generator=G) > 0.2
    panel = make_panel(y, mask)
    model = PCA(n_factors=2, ridge=0.1).fit(panel.slice_dates(0, 40))
    test = panel.slice_dates(40, 60)
    f = model.factors(test)
    beta = model.beta_.numpy()
    for t in range(20):
        obs = test.mask[t].numpy()
        b = beta[obs]
        gram = b.T @ b + model.ridge_ * np.eye(2)
        expected = np.linalg.solve(gram, b.T @ test.y[t].numpy()[obs].astype(float))
        assert np.allclose(f[t].numpy(), expected, atol=1e-5)


def test_tickers_unseen_in_training_get_no_beta_and_a_zero_prediction(make_panel):
    y = low_rank(N=6, noise=0.05)
    train = make_panel(y[:30, :5], tickers=["A", "B", "C", "D", "E"])
    test = make_panel(y[30:], tickers=["A", "B", "C", "D", "E", "NEW"])
    model = PCA(n_factors=2).fit(train)
    betas = model.betas(test)
    assert torch.all(betas[:, 5] == 0)
    assert torch.allclose(betas[:, :5], model.beta_.float().expand(10, -1, -1))
    assert torch.all(model.predict(test)[:, 5] == 0)


def test_ticker_with_too_few_observations_gets_no_beta(make_panel):
    mask = torch.ones(40, 15, dtype=torch.bool)
    mask[:35, 3] = False  # 5 observations
    model = PCA(n_factors=2, min_obs=12).fit(make_panel(low_rank(), mask))
    assert not model.has_beta_[3] and torch.all(model.beta_[3] == 0)
    assert int(model.has_beta_.sum()) == 14


def test_perturbing_future_returns_leaves_past_predictions_unchanged(make_panel):
    y = low_rank(T=60, noise=0.05)
    panel = make_panel(y)
    model = PCA(n_factors=2).fit(panel.slice_dates(0, 40))
    y2 = y.clone()
    y2[50:] += 5.0
    test_a, test_b = panel.slice_dates(40, 60), make_panel(y2).slice_dates(40, 60)
    for kind in ("total", "predictive"):
        a, b = model.predict(test_a, kind), model.predict(test_b, kind)
        assert torch.equal(a[:10], b[:10])
        assert not torch.equal(a[10:], b[10:])
    # lambda at the first perturbed date still uses only earlier factors
    assert torch.equal(
        model.predict(test_a, "predictive")[10], model.predict(test_b, "predictive")[10]
    )


def test_too_few_tickers_is_a_panel_error(make_panel):
    with pytest.raises(PanelError, match="PCA with 3 factors needs at least 3 tickers"):
        PCA(n_factors=3).fit(make_panel(low_rank(N=2)))
