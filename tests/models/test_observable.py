import numpy as np
import pytest
import torch

from cae.errors import ConfigError
from cae.models.observable import Observable, observable_factors

G = torch.Generator().manual_seed(2)


def test_factors_on_hand_numbers(make_panel):
    # one date, 10 tickers; c1 = 0..9 so the 30% legs are tickers {7, 8, 9} and {0, 1, 2}
    X = torch.arange(10.0).view(1, 10, 1)
    y = torch.arange(10.0).view(1, 10) / 100
    f = observable_factors(make_panel(y, None, X), [0], 0.3)
    assert torch.allclose(f, torch.tensor([[0.045, 0.08 - 0.01]]))


def test_masked_tickers_are_left_out_of_ranks_and_means(make_panel):
    X = torch.arange(10.0).view(1, 10, 1)
    y = torch.arange(10.0).view(1, 10) / 100
    mask = torch.ones(1, 10, dtype=torch.bool)
    mask[0, 9] = False  # 9 tickers left, ranks 0..8
    f = observable_factors(make_panel(y, mask, X), [0], 0.3)
    assert torch.allclose(f[0, 0], torch.tensor(0.04))
    # pct = (rank + 0.5) / 9; long: pct > 0.7 -> ranks 6, 7, 8; short: ranks 0, 1, 2
    assert torch.allclose(f[0, 1], torch.tensor(0.07 - 0.01))


def test_vectorised_factors_match_a_per_date_loop(make_panel):
    T, N = 8, 25
    X = torch.randn(T, N, 2, generator=G)
    y = torch.randn(T, N, generator=G)
    mask = torch.rand(T, N, generator=G) > 0.2
    panel = make_panel(y, mask, X)
    f = observable_factors(panel, [0, 1], 0.3).numpy()
    for t in range(T):
        obs = panel.mask[t].numpy()
        yt = panel.y[t].numpy()[obs]
        assert np.isclose(f[t, 0], yt.mean(), atol=1e-6)
        for c in range(2):
            xt = panel.X[t, :, c].numpy()[obs]
            order = np.argsort(xt, kind="stable")
            pct = (np.argsort(order, kind="stable") + 0.5) / obs.sum()
            ls = yt[pct > 0.7].mean() - yt[pct < 0.3].mean()
            assert np.isclose(f[t, 1 + c], ls, atol=1e-6)


def test_time_series_betas_match_per_ticker_lstsq(make_panel):
    T, N = 60, 12
    X = torch.randn(T, N, 1, generator=G)
    mask = torch.ones(T, N, dtype=torch.bool)
    panel0 = make_panel(torch.randn(T, N, generator=G), mask, X)
    f = observable_factors(panel0, [0], 0.3)  # (T, 2)
    model = Observable(min_obs=12).fit(panel0)
    for n in range(N):
        expected, *_ = np.linalg.lstsq(f.numpy().astype(float), panel0.y[:, n].numpy(), rcond=None)
        assert np.allclose(model.beta_[n].numpy(), expected, atol=1e-5)
    assert model.factor_names_ == ("mkt", "ls_c1")
    assert model.betas(panel0).shape == (T, N, 2)


def test_ticker_with_too_few_observations_or_unseen_gets_no_beta(make_panel):
    T, N = 30, 6
    mask = torch.ones(T, N, dtype=torch.bool)
    mask[:25, 0] = False
    panel = make_panel(torch.randn(T, N, generator=G), mask, torch.randn(T, N, 1, generator=G))
    model = Observable(min_obs=12).fit(panel)
    assert torch.all(model.beta_[0] == 0) and torch.all(model.beta_[1:] != 0)
    other = make_panel(panel.y[:, :2], None, panel.X[:, :2], tickers=["T1", "NEW"])
    b = model.betas(other)
    assert torch.allclose(b[:, 0], model.beta_[1].float().expand(T, -1))
    assert torch.all(b[:, 1] == 0)


def test_chosen_characteristics_and_bad_names(make_panel):
    panel = make_panel(torch.randn(20, 10, generator=G), None, torch.randn(20, 10, 3, generator=G))
    model = Observable(chars=("c3",)).fit(panel)
    assert model.n_factors == 2 and model.factor_names_ == ("mkt", "ls_c3")
    with pytest.raises(ConfigError, match=r"unknown characteristics \['size'\]"):
        Observable(chars=("size",)).fit(panel)
    with pytest.raises(ConfigError, match="quantile must be in"):
        Observable(quantile=0.7).fit(panel)


def test_factor_at_t_does_not_use_later_dates(make_panel):
    X = torch.randn(10, 15, 2, generator=G)
    y = torch.randn(10, 15, generator=G)
    a = observable_factors(make_panel(y, None, X), [0, 1], 0.3)
    y2, X2 = y.clone(), X.clone()
    y2[6:] += 1.0
    X2[6:] = -X2[6:]
    b = observable_factors(make_panel(y2, None, X2), [0, 1], 0.3)
    assert torch.equal(a[:6], b[:6]) and not torch.equal(a[6:], b[6:])
