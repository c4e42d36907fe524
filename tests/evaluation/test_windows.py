import datetime as dt

import numpy as np
import pytest

from cae.errors import ConfigError
from cae.evaluation.windows import WindowPlan, plan_windows, windows_frame

DATES = (np.datetime64("2000-01", "M") + np.arange(20)).astype("datetime64[D]")


def test_expanding_plan_on_hand_numbers():
    plan = WindowPlan(n_train=5, n_val=3, n_test=4)
    ws = plan_windows(plan, DATES)
    assert [(w.train, w.val, w.test) for w in ws] == [
        ((0, 5), (5, 8), (8, 12)),
        ((0, 9), (9, 12), (12, 16)),
        ((0, 13), (13, 16), (16, 20)),
    ]
    assert [w.window_id for w in ws] == [0, 1, 2]


def test_rolling_plan_moves_training_start():
    plan = WindowPlan(scheme="rolling", n_train=5, n_val=3, n_test=4)
    ws = plan_windows(plan, DATES)
    assert [w.train for w in ws] == [(0, 5), (4, 9), (8, 13)]
    assert all(w.train[1] - w.train[0] == 5 for w in ws)


def test_last_test_block_is_partial_unless_forbidden():
    plan = WindowPlan(n_train=5, n_val=3, n_test=5)
    assert [w.test for w in plan_windows(plan, DATES)] == [(8, 13), (13, 18), (18, 20)]
    strict = WindowPlan(n_train=5, n_val=3, n_test=5, allow_partial_test=False)
    assert [w.test for w in plan_windows(strict, DATES)] == [(8, 13), (13, 18)]


def test_step_shorter_than_test_overlaps_tests():
    plan = WindowPlan(n_train=10, n_val=2, n_test=4, step=2, allow_partial_test=False)
    assert [w.test for w in plan_windows(plan, DATES)] == [(12, 16), (14, 18), (16, 20)]


def test_blocks_never_overlap_and_follow_each_other():
    for w in plan_windows(WindowPlan(scheme="rolling", n_train=4, n_val=2, n_test=3), DATES):
        assert w.train[1] == w.val[0] and w.val[1] == w.test[0]
        assert w.test[1] <= len(DATES)


def test_paper_defaults():
    plan = WindowPlan()
    assert (plan.scheme, plan.n_train, plan.n_val, plan.n_test, plan.refit_step) == (
        "expanding",
        216,
        144,
        12,
        12,
    )


def test_too_short_panel_is_a_config_error():
    with pytest.raises(ConfigError, match=r"needs at least 372 dates .* the panel has 20"):
        plan_windows(WindowPlan(), DATES)


def test_bad_scheme_is_a_config_error():
    with pytest.raises(ConfigError, match="scheme must be 'expanding' or 'rolling'"):
        plan_windows(WindowPlan(scheme="sliding", n_train=2, n_val=1, n_test=1), DATES)


def test_windows_frame_has_inclusive_date_bounds():
    frame = windows_frame(plan_windows(WindowPlan(n_train=5, n_val=3, n_test=4), DATES))
    assert frame.columns == [
        "window_id",
        "train_start",
        "train_end",
        "val_start",
        "val_end",
        "test_start",
        "test_end",
    ]
    row = frame.row(1, named=True)
    assert row["train_start"] == dt.date(2000, 1, 1)
    assert row["train_end"] == dt.date(2000, 9, 1)
    assert row["val_start"] == dt.date(2000, 10, 1)
    assert row["test_end"] == dt.date(2001, 4, 1)


def test_split_returns_panels_of_each_block():
    from cae.datasets.simulate import SimConfig, simulate_panel

    panel = simulate_panel(SimConfig(n_dates=20, n_tickers=5, n_chars=3)).panel
    w = plan_windows(WindowPlan(n_train=5, n_val=3, n_test=4), panel.dates)[1]
    train, val, test = w.split(panel)
    assert (train.n_dates, val.n_dates, test.n_dates) == (9, 3, 4)
    assert test.dates[0] == panel.dates[12]


def test_windows_compare_by_ranges():
    a = plan_windows(WindowPlan(n_train=5, n_val=3, n_test=4), DATES)
    b = plan_windows(WindowPlan(n_train=5, n_val=3, n_test=4), DATES.copy())
    assert a == b
    assert "dates" not in repr(a[0])
