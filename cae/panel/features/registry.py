"""The characteristic registry: one entry per characteristic, found by name.

An entry holds everything about a characteristic: its name, window, inputs, summary (the
builder's docstring) and the Polars expression that defines its values. Adding a characteristic
is one decorated function in a module of `cae/panel/features/` plus one line in
`docs/characteristics.md` (`tests/panel/features/test_features.py` checks the line against the
entry); the engine, the panel tables, validation and the CLI all read the names from here. A
function returns a Polars expression over the daily base columns (see `sql/daily_base.sql`),
evaluated on rows sorted by ticker and date. The compiled kernel (`kernel.py`) computes the
characteristics it names faster, with the same values; it reads their inputs from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

__all__ = ["REGISTRY", "Characteristic", "characteristic", "names"]


@dataclass(frozen=True)
class Characteristic:
    """One registered characteristic."""

    name: str
    # Builds the expression that defines the values (the kernel must give the same).
    expr: Callable[[], pl.Expr]
    # Ticker sessions the value at d reads, d included (the incremental build reads this many).
    window: int
    # 0: per ticker over its own past; 1: built from stage-0 columns (cross-sections, squares).
    stage: int
    summary: str
    # The columns it reads: daily base columns (stage 0); stage-0 characteristics or base
    # columns like sector (stage 1).
    inputs: tuple[str, ...]


REGISTRY: dict[str, Characteristic] = {}


def characteristic(
    name: str, *, window: int, inputs: tuple[str, ...], stage: int = 0
) -> Callable[[Callable[[], pl.Expr]], Callable[[], pl.Expr]]:
    """Register the decorated expression builder under `name` (its docstring is the summary)."""

    def register(build: Callable[[], pl.Expr]) -> Callable[[], pl.Expr]:
        if name in REGISTRY:
            raise ValueError(f"characteristic {name!r} is registered twice")
        if not inputs:
            raise ValueError(f"characteristic {name!r} must list its inputs")
        summary = (build.__doc__ or "").strip().splitlines()[0] if build.__doc__ else ""
        REGISTRY[name] = Characteristic(name, build, window, stage, summary, tuple(inputs))
        return build

    return register


def names() -> tuple[str, ...]:
    """Return the registered characteristic names in registration order."""
    return tuple(REGISTRY)
