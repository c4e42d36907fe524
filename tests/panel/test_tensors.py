import datetime as dt

import numpy as np
import polars as pl
import pytest
import torch

from cae.errors import PanelError
from cae.panel.tensors import panel_from_long, panel_to_long
from tests.support.synth import long_frame

CHARS = ["c0", "c1", "c2"]


def naive_dense(frame, target):
    """Per-row dictionary construction of the same panel, for comparison."""
    dates = sorted(set(frame["date"].to_list()))
    tickers = sorted(set(frame["ticker"].to_list()))
    rows = {(r["date"], r["ticker"]): r for r in frame.iter_rows(named=True)}
    out_dates = dates if target == "forward" else dates[1:]
    X = np.zeros((len(out_dates), len(tickers), len(CHARS)), np.float32)
    y = np.zeros((len(out_dates), len(tickers)), np.float32)
    mask = np.zeros((len(out_dates), len(tickers)), bool)
    for t, d in enumerate(out_dates):
        for n, tic in enumerate(tickers):
            if target == "forward":
                chars_row, ret_row, col = rows.get((d, tic)), rows.get((d, tic)), "ret_fwd"
            else:
                chars_row, ret_row, col = rows.get((dates[t], tic)), rows.get((d, tic)), "ret"
            if chars_row is None or ret_row is None or ret_row[col] is None:
                continue
            mask[t, n] = True
            X[t, n] = [chars_row[c] for c in CHARS]
            y[t, n] = ret_row[col]
    return out_dates, tickers, X, y, mask


@pytest.mark.parametrize("target", ["forward", "contemporaneous"])
def test_panel_matches_naive_per_row_construction(target):
    frame = long_frame(n_dates=10, n_tickers=6, seed=3)
    panel = panel_from_long(frame, CHARS, target=target)
    dates, tickers, X, y, mask = naive_dense(frame, target)
    assert panel.X.shape == (len(dates), len(tickers), 3)
    assert panel.X.dtype == torch.float32
    assert [str(d) for d in panel.dates] == [str(d) for d in dates]
    assert panel.tickers.tolist() == tickers
    assert np.array_equal(panel.mask.numpy(), mask)
    assert np.allclose(panel.X.numpy(), X)
    assert np.allclose(panel.y.numpy(), y)


def test_forward_row_pairs_chars_at_t_with_next_return():
    frame = long_frame(n_dates=6, n_tickers=4, seed=1, drop=0.0)
    panel = panel_from_long(frame, CHARS)
    t0 = frame.filter(pl.col("ticker") == "T00").sort("date")
    assert panel.X[0, 0].tolist() == pytest.approx([t0["c0"][0], t0["c1"][0], t0["c2"][0]])
    assert float(panel.y[0, 0]) == pytest.approx(t0["ret"][1])
    assert not panel.mask[-1].any()  # the last date has no next return


def test_contemporaneous_drops_first_date_and_uses_previous_chars():
    frame = long_frame(n_dates=6, n_tickers=4, seed=1, drop=0.0)
    panel = panel_from_long(frame, CHARS, target="contemporaneous")
    t0 = frame.filter(pl.col("ticker") == "T00").sort("date")
    assert panel.n_dates == 5
    assert str(panel.dates[0]) == str(t0["date"][1])
    assert panel.X[0, 0].tolist() == pytest.approx([t0["c0"][0], t0["c1"][0], t0["c2"][0]])
    assert float(panel.y[0, 0]) == pytest.approx(t0["ret"][1])


def test_masked_cells_hold_zero():
    panel = panel_from_long(long_frame(seed=5, drop=0.4), CHARS)
    assert (~panel.mask).any()
    assert float(panel.X[~panel.mask].abs().sum()) == 0.0
    assert float(panel.y[~panel.mask].abs().sum()) == 0.0


def test_perturbing_future_rows_leaves_past_rows_unchanged():
    frame = long_frame(n_dates=10, seed=2)
    cut = frame["date"].unique().sort()[5]
    future = pl.col("date") > cut
    perturbed = frame.with_columns(
        *[pl.when(future).then(-pl.col(c)).otherwise(pl.col(c)).alias(c) for c in CHARS],
        pl.when(future).then(pl.col("ret") + 1).otherwise(pl.col("ret")).alias("ret"),
    )
    a = panel_from_long(frame, CHARS, target="contemporaneous")
    b = panel_from_long(perturbed, CHARS, target="contemporaneous")
    # contemporaneous row t explains dates[t] with chars of the previous date: rows with
    # dates <= cut use nothing after cut
    keep = int((a.dates <= np.datetime64(cut)).sum())
    assert keep == 5
    assert torch.equal(a.X[:keep], b.X[:keep])
    assert torch.equal(a.y[:keep], b.y[:keep])


def test_panel_to_long_round_trips_observed_cells():
    frame = long_frame(seed=4)
    panel = panel_from_long(frame, CHARS)
    back = panel_to_long(panel, {"ret_fwd": panel.y, "X": panel.X})
    expected = frame.filter(pl.col("ret_fwd").is_not_null()).sort("date", "ticker")
    assert back.columns == ["date", "ticker", "ret_fwd", "X_1", "X_2", "X_3"]
    assert back.height == int(panel.mask.sum()) == expected.height
    assert back["date"].dtype == pl.Date
    assert back["ticker"].to_list() == expected["ticker"].to_list()
    assert np.allclose(back["ret_fwd"].to_numpy(), expected["ret_fwd"].to_numpy(), atol=1e-7)
    assert np.allclose(back["X_2"].to_numpy(), expected["c1"].to_numpy(), atol=1e-7)


def test_panel_to_long_rejects_wrong_shape():
    panel = panel_from_long(long_frame(), CHARS)
    with pytest.raises(ValueError, match="expected \\(T, N\\)"):
        panel_to_long(panel, {"bad": torch.zeros(3, 3)})


def test_duplicate_row_is_named():
    frame = long_frame()
    frame = pl.concat([frame, frame.slice(3, 1)])
    with pytest.raises(PanelError, match=r"row \d+: duplicate \(date, ticker\)"):
        panel_from_long(frame, CHARS, source="chars.parquet")


def test_out_of_range_characteristic_is_named():
    frame = long_frame().with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(3.0).otherwise(pl.col("c1")).alias("c1")
    )
    with pytest.raises(PanelError, match=r"chars.parquet: row 7: characteristic 'c1' = 3.0"):
        panel_from_long(frame, CHARS, source="chars.parquet")


def test_null_characteristic_is_rejected():
    frame = long_frame().with_columns(
        pl.when(pl.int_range(pl.len()) == 2).then(None).otherwise(pl.col("c0")).alias("c0")
    )
    with pytest.raises(PanelError, match="row 2: characteristic 'c0' = None"):
        panel_from_long(frame, CHARS)


def test_missing_column_and_bad_target_are_rejected():
    with pytest.raises(PanelError, match=r"missing required columns \['c9'\]"):
        panel_from_long(long_frame(), [*CHARS, "c9"])
    with pytest.raises(PanelError, match="target must be one of"):
        panel_from_long(long_frame(), CHARS, target="backward")


def test_single_date_contemporaneous_is_rejected():
    frame = long_frame().filter(pl.col("date") == dt.date(2020, 1, 3))
    with pytest.raises(PanelError, match="at least two dates"):
        panel_from_long(frame, CHARS, target="contemporaneous")
