import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch

from cae.datasets.simulate import SimConfig, simulate_panel
from cae.errors import PanelError
from cae.evaluation.metrics import expanding_lambda
from cae.models.ipca import IPCA


def ipca_panel(make_panel, T=50, N=30, P=4, K=2, intercept=False, noise=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    Z = torch.rand(T, N, P, generator=g, dtype=torch.float64) * 2 - 1
    gamma = torch.randn(P, K, generator=g, dtype=torch.float64)
    f = 0.05 * torch.randn(T, K, generator=g, dtype=torch.float64) + 0.01
    y = torch.einsum("tnp,pk,tk->tn", Z, gamma, f)
    if intercept:
        y = y + Z @ (0.01 * torch.randn(P, generator=g, dtype=torch.float64))
    y = y + noise * torch.randn(T, N, generator=g, dtype=torch.float64)
    mask = torch.rand(T, N, generator=g) > 0.15
    return make_panel(y, mask, Z), gamma


def projector(a):
    q, _ = torch.linalg.qr(a)
    return q @ q.T


def test_noiseless_panel_is_fitted_exactly_and_gamma_spans_the_truth(make_panel):
    panel, gamma = ipca_panel(make_panel)
    model = IPCA(n_factors=2, constant=False).fit(panel)
    assert model.score(panel) == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(projector(model.Gamma_), projector(gamma), atol=1e-5)


def test_noiseless_panel_with_intercept_is_fitted_exactly(make_panel):
    panel, _ = ipca_panel(make_panel, intercept=True)
    assert IPCA(n_factors=2).fit(panel).score(panel) < 0.9999
    model = IPCA(n_factors=2, intercept=True).fit(panel)
    assert model.score(panel) == pytest.approx(1.0, abs=1e-6)
    assert model.factors_.shape == (50, 3) and torch.all(model.factors_[:, 2] == 1)
    assert model.betas(panel).shape == (50, 30, 3)


def test_normalisation_gamma_orthonormal_factors_orthogonal(make_panel):
    panel, _ = ipca_panel(make_panel, noise=0.02, intercept=True)
    model = IPCA(n_factors=2, intercept=True).fit(panel)
    G = model.Gamma_
    assert torch.allclose(G.T @ G, torch.eye(2, dtype=torch.float64), atol=1e-8)
    assert torch.allclose(G.T @ model.Gamma_alpha_, torch.zeros(2, dtype=torch.float64), atol=1e-8)
    f = model.factors_[:, :2].double()
    assert abs(float((f.T @ f)[0, 1])) < 1e-4
    assert torch.all(f.mean(dim=0) > 0)


def test_matches_the_ipca_package(make_panel):
    pytest.importorskip("pandas")
    numba = pytest.importorskip("numba")
    # Compiling the package's numba kernels takes 10-25 s here; on 30 dates plain numpy is fast.
    jit_was_disabled = numba.config.DISABLE_JIT
    numba.config.DISABLE_JIT = True
    try:
        ipca_pkg = pytest.importorskip("ipca")
    finally:
        numba.config.DISABLE_JIT = jit_was_disabled
    panel, _ = ipca_panel(make_panel, T=30, N=25, P=4, noise=0.03, seed=2)
    tt, nn = torch.nonzero(panel.mask, as_tuple=True)
    X = panel.X[tt, nn].numpy().astype(float)
    y = panel.y[tt, nn].numpy().astype(float)
    indices = np.column_stack([nn.numpy(), tt.numpy()])
    for intercept in (False, True):
        ours = (
            IPCA(n_factors=2, intercept=intercept, constant=False, tol=1e-10)
            .fit(panel)
            .predict(panel)
        )
        ref = ipca_pkg.InstrumentedPCA(
            n_factors=2, intercept=intercept, max_iter=20000, iter_tol=1e-10
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref.fit(X, y, indices=indices, quiet=True)
        fitted = np.einsum("ip,pk,ki->i", X, ref.Gamma, ref.Factors[:, tt.numpy()])
        assert np.allclose(ours[tt, nn].numpy(), fitted, atol=1e-6)


def test_out_of_sample_factors_match_per_date_lstsq(make_panel):
    panel, _ = ipca_panel(make_panel, T=60, noise=0.05)
    model = IPCA(n_factors=2, constant=False).fit(panel.slice_dates(0, 40))
    test = panel.slice_dates(40, 60)
    f = model.factors(test).numpy()
    for t in range(20):
        obs = test.mask[t].numpy()
        beta = test.X[t].numpy()[obs].astype(float) @ model.Gamma_.numpy()
        expected, *_ = np.linalg.lstsq(beta, test.y[t].numpy()[obs].astype(float), rcond=None)
        assert np.allclose(f[t], expected, atol=1e-5)


def test_masked_cell_changes_nothing(make_panel):
    panel, _ = ipca_panel(make_panel, noise=0.05)
    dirty = replace(
        panel,
        X=torch.where(panel.mask.unsqueeze(-1), panel.X, torch.tensor(9.0)),
        y=torch.where(panel.mask, panel.y, torch.tensor(9.0)),
    )
    a, b = IPCA(n_factors=2).fit(panel), IPCA(n_factors=2).fit(dirty)
    assert torch.allclose(a.Gamma_, b.Gamma_, atol=1e-10)
    assert torch.allclose(a.predict(panel), b.predict(dirty), atol=1e-7)


def test_perturbing_the_future_leaves_past_predictions_unchanged(make_panel):
    sim = simulate_panel(SimConfig(n_dates=60, n_tickers=40, n_chars=4, seed=1))
    model = IPCA(n_factors=2).fit(sim.panel.slice_dates(0, 40))
    test = sim.panel.slice_dates(40, 60)
    future = replace(test, y=torch.cat([test.y[:10], test.y[10:] + 3.0]))
    for kind in ("total", "predictive"):
        a, b = model.predict(test, kind), model.predict(future, kind)
        assert torch.equal(a[:10], b[:10]) and not torch.equal(a[10:], b[10:])
    assert torch.equal(
        model.predict(test, "predictive")[10], model.predict(future, "predictive")[10]
    )


def test_linear_simulation_recovers_oracle_like_fit():
    sim = simulate_panel(SimConfig(n_dates=120, n_tickers=100, n_chars=5, seed=0))
    train, test = sim.panel.slice_dates(0, 90), sim.panel.slice_dates(90, 120)
    model = IPCA(n_factors=3).fit(train)
    assert model.score(test) > 0.35  # oracle is ~0.40 by construction


def test_more_factors_than_characteristics_is_a_panel_error(make_panel):
    panel, _ = ipca_panel(make_panel, P=2)
    with pytest.raises(PanelError, match="IPCA with 3 factors needs at least 3 characteristics"):
        IPCA(n_factors=3, constant=False).fit(panel)


def test_chunked_managed_portfolios_match_one_batch(make_panel, monkeypatch):
    import cae.models.ipca as ipca_module

    panel, _ = ipca_panel(make_panel, noise=0.05)
    whole = ipca_module._managed(panel, True)
    monkeypatch.setattr(ipca_module, "CHUNK_CELLS", 30 * 4 * 7)  # 7 dates per chunk
    chunked = ipca_module._managed(panel, True)
    assert torch.allclose(whole[0], chunked[0]) and torch.allclose(whole[1], chunked[1])


def test_constant_instrument_captures_a_common_market_factor(make_panel):
    g = torch.Generator().manual_seed(5)
    T, N, P = 80, 40, 3
    ranks = torch.linspace(-1, 1, N)
    X = torch.stack([ranks[torch.randperm(N, generator=g)] for _ in range(T * P)])
    X = X.reshape(T, P, N).transpose(1, 2)  # (T, N, P), centred at 0 each date
    market = 0.02 * torch.randn(T, 1, generator=g)
    y = market.expand(T, N) + 0.002 * torch.randn(T, N, generator=g)
    panel = make_panel(y, None, X)
    assert IPCA(n_factors=1, constant=False).fit(panel).score(panel) < 0.2
    assert IPCA(n_factors=1).fit(panel).score(panel) > 0.95


def warm_up_panel(make_panel, T=60, N=40, P=8, n_warm=20, n_absent=5, seed=2):
    """Ranked characteristics, the last `n_absent` all 0 on the first `n_warm` dates (warm-up).

    Returns are a market factor plus noise, so IPCA's spare factors have nothing to explain
    but noise. With these settings the unguarded fit had a training factor of 12.6 (others
    ~0.03) and a predictive test R2 of -29,347%.
    """
    g = torch.Generator().manual_seed(seed)
    ranks = torch.linspace(-1, 1, N)
    X = torch.stack([ranks[torch.randperm(N, generator=g)] for _ in range(T * P)])
    X = X.reshape(T, P, N).transpose(1, 2).clone()  # (T, N, P)
    X[:n_warm, :, P - n_absent :] = 0.0
    _ = torch.randn(P, 1, generator=g), torch.randn(T, 1, generator=g)  # keeps the seed's draws
    market = 0.01 * torch.randn(T, 1, generator=g)
    y = market + 0.02 * torch.randn(T, N, generator=g)
    return make_panel(y, None, X)


def test_characteristic_absent_on_early_dates_does_not_blow_up_lambda(make_panel):
    panel = warm_up_panel(make_panel)
    train, test = panel.slice_dates(0, 40), panel.slice_dates(40, 60)
    model = IPCA(n_factors=3).fit(train)
    assert float(model.factors_.abs().max()) < 0.2
    assert model.score(test, "predictive") > -0.05
    assert model.chars_left_out_ == ("c4", "c5", "c6", "c7", "c8")
    assert model.chars_ == ("c1", "c2", "c3", "constant")
    assert model.Gamma_.shape == (4, 3)
    assert model.betas(test).shape == (20, 40, 3)


def test_panel_without_constant_characteristics_keeps_them_all(make_panel):
    panel, _ = ipca_panel(make_panel, noise=0.05)
    model = IPCA(n_factors=2).fit(panel)
    assert model.chars_left_out_ == ()
    assert model.Gamma_.shape == (5, 2)


def test_too_few_varying_characteristics_name_those_left_out(make_panel):
    panel = warm_up_panel(make_panel, P=4, n_absent=3, n_warm=40)
    with pytest.raises(
        PanelError,
        match=r"not 2 \(c2, c3, c4 left out: constant across tickers on more than half",
    ):
        IPCA(n_factors=3).fit(panel)


def test_characteristic_absent_on_a_fifth_of_training_dates_is_kept_without_those_dates(
    make_panel,
):
    panel = warm_up_panel(make_panel, n_warm=8)  # absent on 8 of the 40 training dates
    train, test = panel.slice_dates(0, 40), panel.slice_dates(40, 60)
    model = IPCA(n_factors=3).fit(train)
    assert model.chars_left_out_ == ()
    assert model.n_dates_left_out_ == 8
    assert model.Gamma_.shape == (9, 3)
    # The dates left out change nothing: the fit is the fit on the other 32 dates.
    later = IPCA(n_factors=3).fit(train.slice_dates(8, 40))
    assert torch.allclose(model.Gamma_, later.Gamma_, atol=1e-6)
    assert torch.allclose(model.factors_[8:], later.factors_, atol=1e-6)
    # Their factors are the mean of the fitted ones, so lambda is the mean over fitted dates.
    assert torch.allclose(model.factors_[:8], later.factors_.mean(dim=0).expand(8, 3), atol=1e-6)
    assert torch.allclose(model.factors(train)[:8], model.factors_[:8])
    assert float(model.factors_.abs().max()) < 0.05
    lam = expanding_lambda(model.factors(test), model.factors(train))
    assert bool(torch.isfinite(lam).all()) and float(lam.abs().max()) < 0.05
    assert model.score(test, "predictive") > -0.05
    assert model.score(test, "total") > 0.0
    assert bool(torch.isfinite(model.predict(train)).all())


def test_absent_dates_left_in_the_fit_would_blow_up_a_factor(make_panel, monkeypatch):
    import cae.models._chars as chars_module

    panel = warm_up_panel(make_panel, n_warm=12, seed=1)  # absent on 12 of 40 training dates
    train, test = panel.slice_dates(0, 40), panel.slice_dates(40, 60)
    guarded = IPCA(n_factors=3).fit(train)
    assert guarded.chars_left_out_ == () and guarded.n_dates_left_out_ == 12
    assert float(guarded.factors_.abs().max()) < 0.05
    assert guarded.score(test, "predictive") > -0.01
    # Measured: with the 12 dates fitted, a training factor of 22 and predictive R2 of -510%.
    monkeypatch.setattr(
        chars_module, "constant_dates", lambda p: torch.zeros(p.n_dates, dtype=bool)
    )
    unguarded = IPCA(n_factors=3).fit(train)
    assert float(unguarded.factors_.abs().max()) > 10.0
    assert unguarded.score(test, "predictive") < -1.0


def test_characteristic_absent_on_four_fifths_of_training_dates_is_left_out(make_panel):
    panel = warm_up_panel(make_panel, n_warm=32)  # absent on 32 of the 40 training dates
    train, test = panel.slice_dates(0, 40), panel.slice_dates(40, 60)
    model = IPCA(n_factors=3).fit(train)
    assert model.chars_left_out_ == ("c4", "c5", "c6", "c7", "c8")
    assert model.n_dates_left_out_ == 0
    assert model.Gamma_.shape == (4, 3)
    assert float(model.factors_.abs().max()) < 0.2
    assert model.score(test, "predictive") > -0.05


def test_absent_characteristic_on_a_test_date_is_predicted_and_logged(make_panel, caplog):
    panel = warm_up_panel(make_panel, n_warm=8)
    model = IPCA(n_factors=3).fit(panel.slice_dates(8, 40))
    test = panel.slice_dates(40, 60)
    X = test.X.clone()
    X[3, :, 7] = 0.0  # c8 absent on one test date
    gap = replace(test, X=X)
    with caplog.at_level("WARNING", logger="cae.models._chars"):
        f = model.factors(gap)
    assert "ipca: 1 of 20 dates after the training block" in caplog.text
    assert torch.allclose(f[3], model.factor_mean_.float())
    assert torch.equal(f[[0, 1, 2, 4]], model.factors(test)[[0, 1, 2, 4]])
    assert bool(torch.isfinite(model.predict(gap, "total")).all())
