import math

import torch

from cae.evaluation.metrics import expanding_lambda, r2_uncentered


def test_r2_uncentered_on_hand_numbers():
    y = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    y_hat = torch.tensor([[1.0, 1.0], [3.0, 5.0]])
    mask = torch.ones(2, 2, dtype=torch.bool)
    # errors 0, 1, 0, -1 -> SSE 2; sum y^2 = 30
    assert math.isclose(r2_uncentered(y, y_hat, mask), 1 - 2 / 30)


def test_r2_ignores_masked_cells():
    y = torch.tensor([[1.0, 100.0]])
    y_hat = torch.tensor([[0.5, -7.0]])
    mask = torch.tensor([[True, False]])
    assert math.isclose(r2_uncentered(y, y_hat, mask), 1 - 0.25 / 1.0)


def test_expanding_lambda_uses_only_earlier_dates():
    f = torch.tensor([[1.0], [3.0], [5.0]])
    lam = expanding_lambda(f)
    assert lam.squeeze(1).tolist() == [0.0, 1.0, 2.0]


def test_expanding_lambda_starts_from_history():
    history = torch.tensor([[2.0], [4.0]])
    f = torch.tensor([[10.0], [0.0]])
    lam = expanding_lambda(f, history)
    assert torch.allclose(lam.squeeze(1), torch.tensor([3.0, (2 + 4 + 10) / 3]))


def test_perturbing_a_future_factor_leaves_past_lambda_unchanged():
    f = torch.randn(20, 3, generator=torch.Generator().manual_seed(0))
    before = expanding_lambda(f)
    f_future = f.clone()
    f_future[12:] += 100.0
    after = expanding_lambda(f_future)
    assert torch.equal(before[:13], after[:13])
    assert not torch.equal(before[13:], after[13:])


# --- baselines: pooled R2, Sharpe ratios ---------------------------

from cae.evaluation.metrics import (  # noqa: E402
    r2_pooled,
    sharpe_ratio,
    sse_and_ssy,
    tangency_sharpe,
)


def test_pooled_r2_sums_errors_across_windows_not_r2s():
    ones = torch.ones(1, 1, dtype=torch.bool)
    w1 = sse_and_ssy(torch.tensor([[1.0]]), torch.tensor([[0.0]]), ones)  # R2 0, ssy 1
    w2 = sse_and_ssy(torch.tensor([[3.0]]), torch.tensor([[3.0]]), ones)  # R2 1, ssy 9
    assert w1 == (1.0, 1.0) and w2 == (0.0, 9.0)
    assert math.isclose(r2_pooled([w1, w2]), 1 - 1 / 10)  # the mean of R2s would be 0.5


def test_pooled_r2_of_one_window_equals_its_r2():
    y = torch.randn(4, 5, generator=torch.Generator().manual_seed(1))
    y_hat = y * 0.5
    mask = y > -1
    assert math.isclose(r2_pooled([sse_and_ssy(y, y_hat, mask)]), r2_uncentered(y, y_hat, mask))


def test_sharpe_ratio_on_hand_numbers():
    r = torch.tensor([0.01, 0.03, 0.02, float("nan")])
    # mean 0.02, std (ddof 1) 0.01 -> 2 per period, x sqrt(12)
    assert math.isclose(sharpe_ratio(r, 12), 2 * math.sqrt(12))
    assert math.isnan(sharpe_ratio(torch.tensor([0.01]), 12))


def test_tangency_sharpe_in_sample_on_hand_numbers():
    f1 = torch.tensor([0.01, 0.03, 0.02])  # mean 0.02, std 0.01
    assert math.isclose(tangency_sharpe(f1.view(-1, 1), 12), 2 * math.sqrt(12), rel_tol=1e-6)
    # two uncorrelated factors: squared Sharpe ratios add
    f2 = torch.tensor([0.03, 0.03, 0.0])  # mean 0.02, std sqrt(3) 0.01, corr with f1 = 0
    both = torch.stack([f1, f2], dim=1)
    assert math.isclose(tangency_sharpe(both, 1), math.sqrt(4 + 4 / 3), rel_tol=1e-6)


def test_tangency_sharpe_out_of_sample_uses_history_weights_only():
    g = torch.Generator().manual_seed(0)
    history = torch.randn(50, 2, generator=g) * 0.05 + torch.tensor([0.01, 0.005])
    test = torch.randn(12, 2, generator=g) * 0.05
    h = history.double()
    w = torch.linalg.inv(torch.cov(h.T)) @ h.mean(dim=0)
    assert math.isclose(
        tangency_sharpe(test, 12, history), sharpe_ratio(test.double() @ w, 12), rel_tol=1e-9
    )
