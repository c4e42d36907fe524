import numpy as np
import pytest
import torch

from cae.models._regress import masked_ols
from cae.models.cross_sectional import CrossSectional

G = torch.Generator().manual_seed(1)


def random_panel(make_panel, T=12, N=20, P=3, p_obs=0.8):
    X = torch.rand(T, N, P, generator=G) * 2 - 1
    y = torch.randn(T, N, generator=G) * 0.05
    mask = torch.rand(T, N, generator=G) < p_obs
    return make_panel(y, mask, X)


@pytest.mark.parametrize("intercept", [True, False])
def test_vectorised_factors_match_per_date_numpy_lstsq(make_panel, intercept):
    panel = random_panel(make_panel)
    model = CrossSectional(intercept=intercept).fit(panel)
    f = model.factors(panel).numpy()
    assert f.shape == (12, 3 + int(intercept))
    for t in range(12):
        obs = panel.mask[t].numpy()
        Z = panel.X[t].numpy()[obs].astype(float)
        if intercept:
            Z = np.column_stack([np.ones(len(Z)), Z])
        expected, *_ = np.linalg.lstsq(Z, panel.y[t].numpy()[obs].astype(float), rcond=None)
        assert np.allclose(f[t], expected, atol=1e-5)


def test_date_with_fewer_tickers_than_factors_gets_min_norm_solution(make_panel):
    panel = random_panel(make_panel, T=3)
    mask = panel.mask.clone()
    mask[1] = False
    mask[1, :2] = True  # 2 tickers, 4 regressors
    panel = make_panel(panel.y, mask, panel.X)
    f = CrossSectional().fit(panel).factors(panel).numpy()
    Z = np.column_stack([np.ones(2), panel.X[1, :2].numpy()]).astype(float)
    expected, *_ = np.linalg.lstsq(Z, panel.y[1, :2].numpy().astype(float), rcond=None)
    assert np.allclose(f[1], expected, atol=1e-5)
    assert np.isfinite(f).all()


def test_betas_are_the_characteristics_with_a_constant(make_panel):
    panel = random_panel(make_panel)
    model = CrossSectional().fit(panel)
    b = model.betas(panel)
    assert model.n_factors == 4 and model.factor_names_ == ("const", "c1", "c2", "c3")
    assert torch.equal(b[..., 1:][panel.mask], panel.X[panel.mask])
    assert torch.all(b[..., 0][panel.mask] == 1) and torch.all(b[~panel.mask] == 0)


def test_exact_linear_cross_section_gives_r2_of_one(make_panel):
    X = torch.rand(6, 10, 2, generator=G)
    f = torch.tensor([[0.01, 0.2, -0.1]]).repeat(6, 1) + 0.01 * torch.randn(6, 3, generator=G)
    y = f[:, :1] + torch.einsum("tnp,tp->tn", X, f[:, 1:])
    panel = make_panel(y, None, X)
    model = CrossSectional().fit(panel)
    assert torch.allclose(model.factors_, f, atol=1e-5)
    assert model.score(panel) == pytest.approx(1.0, abs=1e-6)


def test_factor_at_t_depends_only_on_the_cross_section_at_t(make_panel):
    panel = random_panel(make_panel)
    model = CrossSectional().fit(panel)
    y2 = panel.y.clone()
    y2[7:] += 1.0
    f_a, f_b = model.factors(panel), model.factors(make_panel(y2, panel.mask, panel.X))
    assert torch.equal(f_a[:7], f_b[:7]) and not torch.equal(f_a[7:], f_b[7:])


def test_chunked_solve_matches_one_batch(make_panel, monkeypatch):
    import cae.models._regress as regress

    panel = random_panel(make_panel, T=10)
    whole = CrossSectional().fit(panel).factors(panel)
    monkeypatch.setattr(regress, "CHUNK_CELLS", 20 * 4 * 3)  # 3 dates per chunk
    chunked = CrossSectional().fit(panel).factors(panel)
    assert torch.equal(whole, chunked)


def test_a_collinear_characteristic_is_left_out_not_given_offsetting_factors(make_panel):
    # c3 is c1 except for one ticker a date, as betasq ranks like beta: with both, the
    # regression splits one effect into two large factors of opposite sign.
    X = torch.rand(40, 30, 3, generator=G) * 2 - 1
    X[..., 2] = X[..., 0]
    X[:, 0, 2] += 1e-3 * torch.randn(40, generator=G)
    y = 0.5 * X[..., 0] + 0.05 * torch.randn(40, 30, generator=G)
    panel = make_panel(y, None, X)
    model = CrossSectional().fit(panel)
    assert model.chars_left_out_ == ("c3",) and model.factor_names_ == ("const", "c1", "c2")
    assert model.factors_.shape == (40, 3)
    assert model.factors_[:, 1].sub(0.5).abs().max() < 0.1  # c1 carries the whole effect
    both = torch.stack([X[..., 0], X[..., 2]], dim=-1)
    offsetting = masked_ols(both, panel.y, panel.mask)  # what keeping both gives
    assert offsetting.abs().max() > 10


def test_a_factor_on_dates_its_characteristic_is_constant_gets_its_training_mean(make_panel):
    # c2 is 0 for every ticker on the first 10 dates (a warm-up): its factor is not realised
    # there, and the regression's 0 would pull lambda toward 0.
    X = torch.rand(30, 25, 2, generator=G) * 2 - 1
    X[:10, :, 1] = 0.0
    y = 0.02 + 0.3 * X[..., 1] + 0.05 * torch.randn(30, 25, generator=G)
    panel = make_panel(y, None, X)
    model = CrossSectional().fit(panel)
    realised = model.factors_[10:, 2]
    assert torch.allclose(model.factors_[:10, 2], realised.mean().expand(10))
    assert model.factor_mean_[2] == pytest.approx(float(realised.mean()))
    raw = masked_ols(model.betas(panel), panel.y, panel.mask).to(torch.float32)
    assert torch.all(raw[:10, 2] == 0) and torch.equal(raw[10:], model.factors_[10:])
    # Total fitted returns are the regression's (the column is 0 there) ...
    fitted = torch.einsum("tnk,tk->tn", model.betas(panel), raw)
    assert torch.allclose(model.predict(panel), fitted, atol=1e-6)
    # ... and a later panel's constant dates get the training mean, never their own future.
    later = make_panel(y[:12].flip(0), None, X[:12].flip(0))  # constant on its last 10 dates
    f = model.factors(later)
    assert torch.equal(f[2:, 2], model.factor_mean_[2].expand(10))
