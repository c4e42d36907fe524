import torch

from cae.models._chars import keep_chars, left_out, varying_chars


def test_varying_chars_skips_masked_cells_and_single_ticker_dates(make_panel):
    X = torch.tensor(
        [
            [[0.5, 0.0, 1.0], [-0.5, 0.0, 1.0], [0.9, 0.3, -1.0]],  # ticker 3 masked on date 1
            [[0.2, 0.1, 0.4], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],  # one ticker observed
            [[0.1, 0.2, 0.3], [-0.1, -0.2, -0.3], [0.0, 0.0, 0.0]],
        ]
    )  # (T=3, N=3, P=3)
    mask = torch.tensor([[True, True, False], [True, False, False], [True, True, True]])
    panel = make_panel(torch.zeros(3, 3), mask, X)
    assert varying_chars(panel).tolist() == [True, False, False]


def test_keep_chars_selects_columns_and_names(make_panel):
    X = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4) / 100
    panel = make_panel(torch.zeros(2, 3), None, X)
    keep = torch.tensor([True, False, True, False])
    kept = keep_chars(panel, keep)
    assert kept.char_names == ("c1", "c3")
    assert torch.equal(kept.X, panel.X[..., [0, 2]])
    assert left_out(panel, keep) == ("c2", "c4")
    assert keep_chars(panel, torch.ones(4, dtype=torch.bool)) is panel
