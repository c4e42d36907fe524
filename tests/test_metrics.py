import math

import torch

from cae.metrics import expanding_lambda, r2_uncentered


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
