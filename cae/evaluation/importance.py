"""Characteristic importance: the drop in test total R2 when one characteristic is set to 0.

GKX 2021, Figure 5 (after GKX 2020, section 2.6): each characteristic in turn is set to 0 in
every observed cell of the test block, the fitted model is kept (no refit), and the drop is
R2(all) - R2(without it). Characteristics arrive ranked into [-1, 1], so 0 is the cross-section's
middle: the characteristic says nothing about any ticker. Only the betas see the zeroed
characteristic: the factors stay the model's estimates from the full test block ("holding the
remaining model estimates fixed"). Re-estimating them would also measure an artefact: on a date
where a characteristic is constant IPCA and the autoencoders stop estimating factors and use
their training mean (`cae.models._chars`), so every characteristic would look alike.

`importance` is the drop's share of the model's summed drops, negative drops counted as 0 (a
characteristic whose removal helps the fit explains nothing); null when no characteristic lowers
R2 (PCA, whose betas ignore the characteristics). Rows hold the sums that pool across windows,
so pooled rows (window_id null) compare R2s over all test blocks, as `metrics` pools R2.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import torch

from cae.evaluation.metrics import sse_and_ssy
from cae.models.base import FactorModel
from cae.panel.tensors import Panel

__all__ = ["IMPORTANCE_SCHEMA", "characteristic_importance", "importance_rows", "pool_importance"]

IMPORTANCE_SCHEMA = {
    "window_id": pl.Int64,
    "model": pl.String,
    "characteristic": pl.String,
    "r2_drop": pl.Float64,  # R2 with every characteristic minus R2 with this one at 0
    "importance": pl.Float64,  # share of the model's positive drops; sums to 1 per model
    # Pooling parts: squared errors of the total fit with the characteristic at 0 and with all
    # of them, and sum y^2, over the test cells.
    "sse_zeroed": pl.Float64,
    "sse_total": pl.Float64,
    "ssy": pl.Float64,
}


def zeroed_sse(model: FactorModel, panel: Panel) -> dict[str, float]:
    """Return, per characteristic, the total fit's sum of squared errors with it set to 0.

    Only the betas see the zeroed characteristic; the factors stay those of the full panel.
    """
    f = model.factors(panel)  # (T, K)
    out = {}
    for p, name in enumerate(panel.char_names):
        X = panel.X.clone()
        X[..., p] = 0.0
        y_hat = torch.einsum("tnk,tk->tn", model.betas(replace(panel, X=X)), f)  # (T, N)
        out[name], _ = sse_and_ssy(panel.y, y_hat, panel.mask)
    return out


def importance_rows(
    window_id: int, model_name: str, model: FactorModel, test: Panel, sse_total: float, ssy: float
) -> pl.DataFrame:
    """Return one row per characteristic for a fitted model on one window's test block.

    `sse_total` and `ssy` are the model's test-block parts with every characteristic
    (`sse_and_ssy` of its total fit), as the window's `metrics` row holds them.
    """
    zeroed = zeroed_sse(model, test)
    parts = pl.DataFrame(
        {
            "window_id": window_id,
            "model": model_name,
            "characteristic": list(zeroed),
            "sse_zeroed": list(zeroed.values()),
            "sse_total": sse_total,
            "ssy": ssy,
        },
        schema_overrides={"window_id": pl.Int64},
    )
    return _statistics(parts)


def pool_importance(rows: pl.DataFrame) -> pl.DataFrame:
    """Return one pooled row per model and characteristic (window_id null) from window rows."""
    per_window = rows.filter(pl.col("window_id").is_not_null())
    parts = per_window.group_by("model", "characteristic", maintain_order=True).agg(
        pl.lit(None, pl.Int64).alias("window_id"),
        pl.col("sse_zeroed", "sse_total", "ssy").sum(),
    )
    return _statistics(parts)


def characteristic_importance(model: FactorModel, panel: Panel) -> dict[str, float]:
    """Return, per characteristic, the drop in total R2 on `panel` when it is set to 0."""
    sse_total, ssy = sse_and_ssy(panel.y, model.predict(panel, "total"), panel.mask)
    rows = importance_rows(0, "model", model, panel, sse_total, ssy)
    return dict(zip(rows["characteristic"], rows["r2_drop"], strict=True))


def _statistics(parts: pl.DataFrame) -> pl.DataFrame:
    """Return the table's rows from the sums over test cells (`importance_rows`' parts)."""
    drop = pl.when(pl.col("ssy") > 0).then(
        (pl.col("sse_zeroed") - pl.col("sse_total")) / pl.col("ssy")
    )
    positive = drop.clip(lower_bound=0.0)
    total = positive.sum().over("window_id", "model")
    return parts.with_columns(
        r2_drop=drop, importance=pl.when(total > 0).then(positive / total)
    ).select(pl.col(name).cast(dtype) for name, dtype in IMPORTANCE_SCHEMA.items())
