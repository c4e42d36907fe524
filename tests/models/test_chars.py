import logging

import numpy as np
import torch

from cae.models._chars import (
    constant_dates,
    fill_constant_dates,
    keep_chars,
    left_out,
    select_chars,
    variation,
    without_dates,
)


def test_variation_skips_masked_cells_and_single_ticker_dates(make_panel):
    X = torch.tensor(
        [
            [[0.5, 0.0, 1.0], [-0.5, 0.0, 1.0], [0.9, 0.3, -1.0]],  # ticker 3 masked on date 1
            [[0.2, 0.1, 0.4], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],  # one ticker observed
            [[0.1, 0.2, 0.3], [-0.1, -0.2, -0.3], [0.0, 0.0, 0.0]],
        ]
    )  # (T=3, N=3, P=3)
    mask = torch.tensor([[True, True, False], [True, False, False], [True, True, True]])
    panel = make_panel(torch.zeros(3, 3), mask, X)
    varies, counted = variation(panel)
    assert counted.tolist() == [True, False, True]
    assert varies[[0, 2]].tolist() == [[True, False, False], [True, True, True]]
    # c2 and c3 vary on 1 of the 2 counted dates: not more than half, so left out.
    assert select_chars(panel).tolist() == [True, False, False]
    assert constant_dates(keep_chars(panel, select_chars(panel))).tolist() == [False] * 3


def ranked(T, N, P, seed=0):
    g = torch.Generator().manual_seed(seed)
    ranks = torch.linspace(-1, 1, N)
    X = torch.stack([ranks[torch.randperm(N, generator=g)] for _ in range(T * P)])
    return X.reshape(T, P, N).transpose(1, 2).clone()  # (T, N, P)


def test_characteristic_varying_on_most_dates_is_kept_and_its_constant_dates_flagged(make_panel):
    X = ranked(10, 6, 3)
    X[:4, :, 1] = 0.0  # c2 absent on 4 of 10 dates
    X[:7, :, 2] = 0.0  # c3 absent on 7 of 10 dates
    panel = make_panel(torch.zeros(10, 6), None, X)
    keep = select_chars(panel)
    assert keep.tolist() == [True, True, False]
    assert left_out(panel, keep) == ("c3",)
    assert constant_dates(keep_chars(panel, keep)).tolist() == [True] * 4 + [False] * 6


def test_absent_exactly_half_the_dates_is_left_out(make_panel):
    X = ranked(10, 6, 2)
    X[:5, :, 1] = 0.0
    panel = make_panel(torch.zeros(10, 6), None, X)
    assert select_chars(panel).tolist() == [True, False]


def test_kept_characteristics_absent_on_different_dates_leave_the_fit_enough_dates(make_panel):
    # c2 varies on 7 of 10 dates and c3 on 6, but both on only 3: keeping both would fit 3
    # dates, so the one varying on fewer dates (c3) is left out.
    X = ranked(10, 6, 3)
    X[:3, :, 1] = 0.0  # c2 absent on dates 0-2
    X[6:, :, 2] = 0.0  # c3 absent on dates 6-9
    panel = make_panel(torch.zeros(10, 6), None, X)
    keep = select_chars(panel)
    assert keep.tolist() == [True, True, False]
    assert int(constant_dates(keep_chars(panel, keep)).sum()) == 3


def test_characteristic_collinear_with_others_is_left_out(make_panel):
    X = ranked(12, 20, 4, seed=3)
    X[..., 2] = X[..., 0]  # c3 duplicates c1 (as betasq ranks like beta on the sample)
    X[..., 3] = (X[..., 1] - X[..., 0]) / 2  # c4 is a combination of c1 and c2
    panel = make_panel(torch.zeros(12, 20), None, X)
    assert select_chars(panel).tolist() == [True, True, False, False]
    clean = make_panel(torch.zeros(12, 20), None, ranked(12, 20, 4, seed=3))
    assert select_chars(clean).tolist() == [True] * 4


def test_panel_varying_everywhere_keeps_everything(make_panel):
    panel = make_panel(torch.zeros(8, 5), None, ranked(8, 5, 3))
    assert bool(select_chars(panel).all())
    assert not bool(constant_dates(panel).any())
    assert without_dates(panel, constant_dates(panel)) is panel


def test_without_dates_masks_and_zeroes_the_dates(make_panel):
    panel = make_panel(torch.ones(4, 3), None, ranked(4, 3, 2))
    out = without_dates(panel, torch.tensor([True, False, False, True]))
    assert out.mask.sum(dim=1).tolist() == [0, 3, 3, 0]
    assert float(out.X[0].abs().sum()) == 0.0 and float(out.y[3].abs().sum()) == 0.0
    assert torch.equal(out.X[1:3], panel.X[1:3])


def test_fill_sets_constant_dates_to_the_mean_and_logs_only_late_ones(make_panel, caplog):
    X = ranked(6, 4, 2)
    X[[1, 4], :, 1] = 0.0
    panel = make_panel(torch.zeros(6, 4), None, X)
    f = torch.arange(12, dtype=torch.float32).reshape(6, 2)
    mean = torch.tensor([-1.0, -2.0])
    with caplog.at_level(logging.WARNING, logger="cae.models._chars"):
        out = fill_constant_dates(f, panel, mean, panel.dates[2], "m")
    assert out[[1, 4]].tolist() == [[-1.0, -2.0], [-1.0, -2.0]]
    assert torch.equal(out[[0, 2, 3, 5]], f[[0, 2, 3, 5]])
    assert "m: 1 of 6 dates after the training block" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="cae.models._chars"):
        fill_constant_dates(f, panel, mean, np.datetime64(panel.dates[-1]), "m")
    assert caplog.text == ""


def test_keep_chars_selects_columns_and_names(make_panel):
    X = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4) / 100
    panel = make_panel(torch.zeros(2, 3), None, X)
    keep = torch.tensor([True, False, True, False])
    kept = keep_chars(panel, keep)
    assert kept.char_names == ("c1", "c3")
    assert torch.equal(kept.X, panel.X[..., [0, 2]])
    assert left_out(panel, keep) == ("c2", "c4")
    assert keep_chars(panel, torch.ones(4, dtype=torch.bool)) is panel
