import polars as pl
import pytest
import torch

from cae.evaluation.importance import characteristic_importance, importance_rows, pool_importance
from cae.evaluation.metrics import sse_and_ssy
from cae.models.cross_sectional import CrossSectional


def _toy(make_panel):
    """y depends on c1 only; c2 is noise the model may use but gains nothing from."""
    g = torch.Generator().manual_seed(4)
    X = torch.rand(10, 30, 2, generator=g) * 2 - 1
    y = 0.5 * X[..., 0] + 0.001 * torch.randn(10, 30, generator=g)
    panel = make_panel(y, None, X)
    return CrossSectional(intercept=False).fit(panel), panel


def test_a_characteristic_that_does_nothing_gets_no_share(make_panel):
    model, panel = _toy(make_panel)
    sse, ssy = sse_and_ssy(panel.y, model.predict(panel, "total"), panel.mask)
    rows = importance_rows(0, "cs", model, panel, sse, ssy)
    shares = dict(zip(rows["characteristic"], rows["importance"], strict=True))
    assert shares["c2"] == pytest.approx(0.0, abs=1e-3)
    assert shares["c1"] == pytest.approx(1.0, abs=1e-3)
    assert sum(shares.values()) == pytest.approx(1.0)
    drops = characteristic_importance(model, panel)
    assert drops["c1"] > 0.9  # the fit is nearly perfect and all of it comes from c1


def test_pooled_drop_sums_errors_over_windows_and_negative_drops_count_as_zero():
    parts = pl.DataFrame(
        {
            "window_id": [0, 0, 0, 1, 1, 1],
            "model": ["m"] * 6,
            "characteristic": ["a", "b", "c"] * 2,
            "r2_drop": [None] * 6,
            "importance": [None] * 6,
            "sse_zeroed": [3.0, 2.0, 0.5, 5.0, 3.0, 1.0],
            "sse_total": [1.0] * 3 + [2.0] * 3,
            "ssy": [4.0] * 3 + [6.0] * 3,
        }
    )
    pooled = pool_importance(parts)
    assert pooled["window_id"].null_count() == 3
    # drops (8 - 3) / 10, (5 - 3) / 10, (1.5 - 3) / 10; shares of the positive ones
    assert pooled["r2_drop"].to_list() == pytest.approx([0.5, 0.2, -0.15])
    assert pooled["importance"].to_list() == pytest.approx([5 / 7, 2 / 7, 0.0])


def test_no_positive_drop_gives_no_shares():
    parts = pl.DataFrame(
        {
            "window_id": [0, 0],
            "model": ["m", "m"],
            "characteristic": ["a", "b"],
            "r2_drop": [None, None],
            "importance": [None, None],
            "sse_zeroed": [1.0, 0.5],
            "sse_total": [1.0, 1.0],
            "ssy": [2.0, 2.0],
        }
    )
    assert pool_importance(parts)["importance"].null_count() == 2
