"""Fit models window by window and score them out of sample (GKX 2019, sections 2.3-2.4).

For each window and model: fit on the training block (models that select nothing on validation
data, `fit_on_train_and_val = True`, fit on training plus validation, so for them the validation
block is in sample), then score the train, validation and test blocks. Predictive R2 on a block
uses lambda from the factors of every earlier block of the window plus the block's own earlier
dates, never its own period. The results are tidy Polars frames shaped like the `windows`,
`betas`, `factors`, `fitted` and `metrics` tables of docs/architecture.md (without run_id); betas,
factors and fitted values cover the test blocks; `inputs` says which characteristics the models
that choose them per window used. `pricing_errors`, `long_short` and `importance` evaluate the
test blocks as GKX 2021 do (`cae.evaluation.pricing`, `.long_short`, `.importance`), from the
fitted model while it is in memory. Pooled metrics (window_id null) sum squared errors over all
test blocks before dividing. On the train block (in sample) predictive R2 uses lambda = the
mean of all training factors, as GKX's in-sample numbers do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import torch

from cae.evaluation.importance import IMPORTANCE_SCHEMA, importance_rows, pool_importance
from cae.evaluation.long_short import LONG_SHORT_SCHEMA, long_short_rows
from cae.evaluation.metrics import expanding_lambda, r2_pooled, sse_and_ssy
from cae.evaluation.pricing import PRICING_SCHEMA, pool_pricing_errors, pricing_rows
from cae.evaluation.windows import Window, WindowPlan, plan_windows, windows_frame
from cae.models.base import FactorModel
from cae.panel.tensors import Panel

__all__ = ["Evaluation", "ModelFactory", "evaluate", "evaluate_window"]

ModelFactory = Callable[[], FactorModel]

METRICS_SCHEMA = {
    "window_id": pl.Int64,
    "model": pl.String,
    "n_factors": pl.Int64,
    "split": pl.String,
    "r2_total": pl.Float64,
    "r2_pred": pl.Float64,
    "n_obs": pl.Int64,
}

BETAS_SCHEMA = {
    "window_id": pl.Int64,
    "model": pl.String,
    "date": pl.Date,
    "ticker": pl.String,
    "factor": pl.String,
    "beta": pl.Float64,
}

INPUTS_SCHEMA = {
    "window_id": pl.Int64,
    "model": pl.String,
    "characteristic": pl.String,
    "is_used": pl.Boolean,
    "n_fit_dates_left_out": pl.Int64,
}

# Sums that let test blocks pool across windows (GKX pool cells, not R2s).
POOLING_SCHEMA = {"sse_total": pl.Float64, "sse_pred": pl.Float64, "ssy": pl.Float64}


@dataclass(frozen=True)
class Evaluation:
    """Tidy outputs of an evaluation; each frame is the docs/architecture.md table of its name.

    `metrics` also carries sse_total, sse_pred and ssy, the parts that pool across windows.
    """

    windows: pl.DataFrame
    betas: pl.DataFrame
    factors: pl.DataFrame
    fitted: pl.DataFrame
    metrics: pl.DataFrame
    inputs: pl.DataFrame
    pricing_errors: pl.DataFrame
    long_short: pl.DataFrame
    importance: pl.DataFrame

    def summary(self) -> pl.DataFrame:
        """Return the pooled out-of-sample rows: one per model, total and predictive R2."""
        return (
            self.metrics.filter(pl.col("window_id").is_null() & (pl.col("split") == "test"))
            .select("model", "n_factors", "r2_total", "r2_pred", "n_obs")
            .sort("model", maintain_order=True)
        )


def evaluate(
    panel: Panel,
    plan: WindowPlan | Sequence[Window],
    models: Sequence[tuple[str, ModelFactory]],
    keep_betas: bool = True,
) -> Evaluation:
    """Fit and score every model on every window of `plan`, then pool the test blocks.

    Parameters
    ----------
    panel : Panel
    plan : WindowPlan, or the windows themselves (e.g. one window from a flow task).
    models : sequence of (name, factory); the factory builds a fresh unfitted model.
    keep_betas : bool; the betas table is T x N x K rows per model, drop it when not needed.

    Returns
    -------
    Evaluation
    """
    windows = plan_windows(plan, panel.dates) if isinstance(plan, WindowPlan) else list(plan)
    parts = [evaluate_window(panel, w, models, keep_betas) for w in windows]
    metrics = pl.concat([p.metrics for p in parts], how="vertical")
    pricing = pl.concat([p.pricing_errors for p in parts], how="vertical")
    importance = pl.concat([p.importance for p in parts], how="vertical")
    return Evaluation(
        windows=windows_frame(windows),
        betas=pl.concat([p.betas for p in parts], how="vertical"),
        factors=pl.concat([p.factors for p in parts], how="vertical"),
        fitted=pl.concat([p.fitted for p in parts], how="vertical"),
        metrics=pl.concat([metrics, _pooled(metrics)], how="vertical"),
        inputs=pl.concat([p.inputs for p in parts], how="vertical"),
        pricing_errors=pl.concat([pricing, pool_pricing_errors(pricing)], how="vertical"),
        long_short=pl.concat([p.long_short for p in parts], how="vertical"),
        importance=pl.concat([importance, pool_importance(importance)], how="vertical"),
    )


def evaluate_window(
    panel: Panel,
    window: Window,
    models: Sequence[tuple[str, ModelFactory]],
    keep_betas: bool = True,
    on_model: Callable[[str], None] | None = None,
) -> Evaluation:
    """Fit and score every model on one window; independent of every other window.

    The returned `windows` frame has this window's row; `metrics` has no pooled rows.
    `on_model`, if given, is called with each model's name once it is fitted and scored
    (a progress display).
    """
    train, val, test = window.split(panel)
    betas, factors, fitted, metrics, inputs = [], [], [], [], []
    pricing, long_short, importance = [], [], []
    for name, factory in models:
        model = factory()
        if model.fit_on_train_and_val:
            model.fit(panel.slice_dates(window.train[0], window.val[1]), None)
        else:
            model.fit(train, val)
        # Scoring builds no autograd graph, whatever the model.
        with torch.no_grad():
            rows, frames = _score(window.window_id, name, model, (train, val, test), keep_betas)
        metrics.extend(rows)
        inputs.extend(_inputs_rows(window.window_id, name, model, panel.char_names))
        fitted.append(frames["fitted"])
        factors.append(frames["factors"])
        pricing.append(frames["pricing_errors"])
        long_short.append(frames["long_short"])
        importance.append(frames["importance"])
        if keep_betas:
            betas.append(frames["betas"])
        if on_model is not None:
            on_model(name)
    return Evaluation(
        windows=windows_frame([window]),
        betas=pl.concat(betas, how="vertical") if betas else pl.DataFrame(schema=BETAS_SCHEMA),
        factors=pl.concat(factors, how="vertical"),
        fitted=pl.concat(fitted, how="vertical"),
        metrics=pl.DataFrame(metrics, schema=METRICS_SCHEMA | POOLING_SCHEMA),
        inputs=pl.DataFrame(inputs, schema=INPUTS_SCHEMA),
        pricing_errors=_concat(pricing, PRICING_SCHEMA),
        long_short=_concat(long_short, LONG_SHORT_SCHEMA),
        importance=_concat(importance, IMPORTANCE_SCHEMA),
    )


def _concat(frames: list[pl.DataFrame], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.concat([pl.DataFrame(schema=schema), *frames], how="vertical")


def _inputs_rows(
    window_id: int, name: str, model: FactorModel, char_names: Sequence[str]
) -> list[dict]:
    """Return one row per characteristic for a model that chose its inputs, else none."""
    left_out = model.chars_left_out_
    if left_out is None:
        return []
    return [
        {
            "window_id": window_id,
            "model": name,
            "characteristic": char,
            "is_used": char not in left_out,
            "n_fit_dates_left_out": int(model.n_dates_left_out_),
        }
        for char in char_names
    ]


def _score(
    window_id: int,
    name: str,
    model: FactorModel,
    blocks: tuple[Panel, Panel, Panel],
    keep_betas: bool,
) -> tuple[list[dict], dict[str, pl.DataFrame]]:
    """Return a fitted model's metric rows for train/val/test and its test-block frames.

    The test-block frames are the `fitted`, `factors` and `betas` rows and the GKX 2021
    evaluations that need the model or the test panel: pricing errors of the managed portfolios,
    the long-short portfolio sorted on the predictive fit, and characteristic importance.
    """
    train, val, test = blocks
    f_train = model.factors(train)
    f_val = model.factors(val)
    history = {"val": f_train, "test": torch.cat([f_train, f_val], dim=0)}
    rows, predictions = [], {}
    for split, block in (("train", train), ("val", val), ("test", test)):
        y_total = model.predict(block, "total")
        if split == "train":
            y_pred = _in_sample_predictive(model, train, f_train)
        else:
            y_pred = model.predict(block, "predictive", history[split])
        predictions[split] = (y_total, y_pred)
        rows.append(_metrics_row(window_id, name, model, split, block, y_total, y_pred))
    names = _factor_names(model)
    f_test = model.factors(test)
    y_total, y_pred = predictions["test"]
    test_row = rows[-1]  # the loop above scores the test block last
    frames = {
        "fitted": _fitted_frame(window_id, name, test, y_total, y_pred),
        "factors": _factors_frame(window_id, name, test, f_test, history["test"], names),
        "pricing_errors": pricing_rows(window_id, name, test, y_total, y_pred),
        "long_short": long_short_rows(window_id, name, test, y_pred),
        "importance": importance_rows(
            window_id, name, model, test, test_row["sse_total"], test_row["ssy"]
        ),
    }
    if keep_betas:
        frames["betas"] = _betas_frame(window_id, name, test, model.betas(test), names)
    return rows, frames


def _in_sample_predictive(model: FactorModel, train: Panel, f_train: torch.Tensor) -> torch.Tensor:
    """Return beta . mean(f) on the training block: GKX's in-sample predictive fit.

    In sample, lambda is the mean of all training factors; an expanding mean would start from a
    single draw and measure little but its noise.
    """
    y_hat = torch.einsum("tnk,k->tn", model.betas(train), f_train.mean(dim=0))
    return torch.where(train.mask, y_hat, torch.zeros_like(y_hat))


def _metrics_row(
    window_id: int,
    name: str,
    model: FactorModel,
    split: str,
    block: Panel,
    y_total: torch.Tensor,
    y_pred: torch.Tensor,
) -> dict:
    sse_total, ssy = sse_and_ssy(block.y, y_total, block.mask)
    sse_pred, _ = sse_and_ssy(block.y, y_pred, block.mask)
    return {
        "window_id": window_id,
        "model": name,
        "n_factors": int(model.n_factors),
        "split": split,
        "r2_total": _r2(sse_total, ssy),
        "r2_pred": _r2(sse_pred, ssy),
        "n_obs": int(block.mask.sum()),
        "sse_total": sse_total,
        "sse_pred": sse_pred,
        "ssy": ssy,
    }


def _r2(sse: float, ssy: float) -> float:
    return float("nan") if ssy == 0.0 else 1.0 - sse / ssy


def _pooled(metrics: pl.DataFrame) -> pl.DataFrame:
    """Return one pooled test row per model: sums of SSE and y^2 over windows, then the ratio."""
    test = metrics.filter(pl.col("split") == "test")
    rows = []
    for (name,), group in test.group_by("model", maintain_order=True):
        ssy = group["ssy"].to_list()
        rows.append(
            {
                "window_id": None,
                "model": name,
                "n_factors": int(group["n_factors"][0]),
                "split": "test",
                "r2_total": r2_pooled(zip(group["sse_total"].to_list(), ssy, strict=True)),
                "r2_pred": r2_pooled(zip(group["sse_pred"].to_list(), ssy, strict=True)),
                "n_obs": int(group["n_obs"].sum()),
                "sse_total": float(group["sse_total"].sum()),
                "sse_pred": float(group["sse_pred"].sum()),
                "ssy": float(sum(ssy)),
            }
        )
    return pl.DataFrame(rows, schema=metrics.schema)


def _factor_names(model: FactorModel) -> list[str]:
    names = model.factor_names_
    k = int(model.factors_.shape[1])
    return list(names) if names is not None and len(names) == k else [f"f{i + 1}" for i in range(k)]


def _np(t: torch.Tensor) -> np.ndarray:
    """Return a tensor as a numpy array, whatever its device or autograd state."""
    return t.detach().cpu().numpy()


def _dates(dates: np.ndarray) -> pl.Series:
    return pl.Series("date", np.asarray(dates, dtype="datetime64[D]")).cast(pl.Date)


def _fitted_frame(
    window_id: int, name: str, test: Panel, y_total: torch.Tensor, y_pred: torch.Tensor
) -> pl.DataFrame:
    tt, nn = np.nonzero(_np(test.mask))
    return pl.DataFrame(
        {
            "window_id": np.full(len(tt), window_id, dtype=np.int64),
            "model": [name] * len(tt),
            "date": _dates(test.dates[tt]),
            "ticker": test.tickers[nn].astype(str),
            "ret": _np(test.y)[tt, nn].astype(np.float64),
            "ret_hat_total": _np(y_total)[tt, nn].astype(np.float64),
            "ret_hat_pred": _np(y_pred)[tt, nn].astype(np.float64),
        }
    )


def _factors_frame(
    window_id: int,
    name: str,
    test: Panel,
    f: torch.Tensor,
    history: torch.Tensor,
    names: list[str],
) -> pl.DataFrame:
    lam = expanding_lambda(f, history)  # (T, K)
    T, K = f.shape
    return pl.DataFrame(
        {
            "window_id": np.full(T * K, window_id, dtype=np.int64),
            "model": [name] * (T * K),
            "date": _dates(np.repeat(test.dates, K)),
            "factor": names * T,
            "value": _np(f).reshape(-1).astype(np.float64),
            "lambda": _np(lam).reshape(-1).astype(np.float64),
        }
    )


def _betas_frame(
    window_id: int, name: str, test: Panel, betas: torch.Tensor, names: list[str]
) -> pl.DataFrame:
    tt, nn = np.nonzero(_np(test.mask))
    K = len(names)
    values = _np(betas)[tt, nn]  # (n_obs, K)
    return pl.DataFrame(
        {
            "window_id": np.full(len(tt) * K, window_id, dtype=np.int64),
            "model": [name] * (len(tt) * K),
            "date": _dates(np.repeat(test.dates[tt], K)),
            "ticker": np.repeat(test.tickers[nn].astype(str), K),
            "factor": names * len(tt),
            "beta": values.reshape(-1).astype(np.float64),
        },
        schema=BETAS_SCHEMA,
    )
