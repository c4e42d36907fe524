"""Model selection on the validation block over a grid of configurations (GKX 2019, section 2.4).

Generic over a factory `config -> FactorModel`, so the same code selects K, depth, L1 penalty and
learning rate of the autoencoder and K of a baseline. Each candidate is fitted on the training
block (with the validation block passed for early stopping) and scored on the validation block,
with lambda seeded from the training factors only.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import polars as pl
import torch

from cae.errors import ConfigError
from cae.models.base import FactorModel, Kind
from cae.panel.tensors import Panel

__all__ = ["SelectedModel", "SelectionResult", "config_grid", "select_model"]

C = TypeVar("C")


@dataclass(frozen=True)
class SelectionResult(Generic[C]):
    """The selected configuration and the validation scores of every candidate.

    Attributes
    ----------
    best_config : the configuration with the highest validation score.
    best_index : int; its position in the grid.
    best_score : float; its validation score under the selection criterion.
    best_model : FactorModel; the selected model as fitted on the training block.
    scores : pl.DataFrame; one row per candidate: config_id, one column per config field,
        r2_total, r2_pred (validation), n_factors, selected.
    """

    best_config: C
    best_index: int
    best_score: float
    best_model: FactorModel
    scores: pl.DataFrame


def config_grid(base: C, **values: Sequence[Any]) -> list[C]:
    """Return every combination of `values` applied to the frozen dataclass `base`, in order.

    Example: `config_grid(CAConfig(), n_factors=[2, 3], l1=[0.0, 1e-4])` gives four configs, the
    last field varying fastest.
    """
    if not dataclasses.is_dataclass(base):
        raise ConfigError(f"config_grid needs a dataclass config, not {type(base).__name__}")
    names = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"config_grid: {type(base).__name__} has no field(s) {unknown}")
    keys = list(values)
    return [
        dataclasses.replace(base, **dict(zip(keys, combo, strict=True)))
        for combo in itertools.product(*(values[k] for k in keys))
    ]


def select_model(
    factory: Callable[[C], FactorModel],
    configs: Sequence[C],
    train: Panel,
    val: Panel,
    criterion: Kind = "total",
) -> SelectionResult[C]:
    """Fit one model per configuration on `train` and keep the best on `val`.

    Parameters
    ----------
    factory : callable building an unfitted model from a configuration.
    configs : the grid, e.g. from `config_grid`.
    train, val : Panel; consecutive blocks, val after train.
    criterion : "total" or "predictive"; the validation R2 to maximise. NaN never wins; ties
        keep the earlier configuration.

    Returns
    -------
    SelectionResult
    """
    if not configs:
        raise ConfigError("select_model needs at least one configuration")
    if criterion not in ("total", "predictive"):
        raise ConfigError(f"criterion must be 'total' or 'predictive', not {criterion!r}")
    rows, fitted = [], []
    for config_id, config in enumerate(configs):
        model = factory(config).fit(train, val)
        fitted.append(model)
        history = model.factors(train)
        rows.append(
            {
                "config_id": config_id,
                **_config_fields(config),
                "n_factors": int(model.n_factors),
                "r2_total": model.score(val, "total", history),
                "r2_pred": model.score(val, "predictive", history),
            }
        )
    key = "r2_total" if criterion == "total" else "r2_pred"
    values = [-math.inf if math.isnan(r[key]) else r[key] for r in rows]
    best = max(range(len(rows)), key=lambda i: (values[i], -i))
    scores = pl.DataFrame(rows).with_columns(selected=pl.col("config_id") == best)
    return SelectionResult(
        best_config=configs[best],
        best_index=best,
        best_score=rows[best][key],
        best_model=fitted[best],
        scores=scores,
    )


class SelectedModel(FactorModel):
    """A model that picks its configuration on the validation block, then acts as the winner.

    Lets `cae.evaluation.evaluate` run selection inside each window like any other model:
    `fit(train, val)`
    runs `select_model` and keeps the winner as fitted on `train` (early-stopped on `val`), as
    GKX do; it is not refitted on train + validation.

    Parameters
    ----------
    factory : callable building an unfitted model from a configuration.
    configs : the grid.
    criterion : "total" or "predictive".
    """

    name = "selected"

    def __init__(
        self,
        factory: Callable[[Any], FactorModel],
        configs: Sequence[Any],
        criterion: Kind = "total",
    ) -> None:
        self.factory = factory
        self.configs = configs
        self.criterion = criterion

    def fit(self, train: Panel, val: Panel | None = None) -> SelectedModel:
        """Select on `val` (required) and keep the best model and every grid score."""
        if val is None or val.n_dates == 0:
            raise ConfigError("SelectedModel needs a validation block to select on")
        self.selection_ = select_model(self.factory, self.configs, train, val, self.criterion)
        self.model_ = self.selection_.best_model
        self.n_factors = self.model_.n_factors
        self.factors_ = self.model_.factors_
        self.factor_names_ = self.model_.factor_names_
        return self

    def betas(self, panel: Panel) -> torch.Tensor:
        """Return the selected model's betas (T, N, K)."""
        return self.model_.betas(panel)

    def factors(self, panel: Panel) -> torch.Tensor:
        """Return the selected model's factors (T, K)."""
        return self.model_.factors(panel)


def _config_fields(config: Any) -> dict[str, Any]:
    """Return a config's fields as scalar columns; sequences and mappings become JSON text."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        fields = dataclasses.asdict(config)
    elif isinstance(config, Mapping):
        fields = dict(config)
    else:
        fields = {"config": repr(config)}
    return {
        k: v if v is None or isinstance(v, bool | int | float | str) else json.dumps(v, default=str)
        for k, v in fields.items()
    }
