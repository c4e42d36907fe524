"""How R2 values are written for people: percent with two decimals, in every table and line.

The terminal, the Prefect artifacts and logs, and the report share these, so one run never
shows `55.1` in one place and `55.48` in another, and its pooled table has the same columns,
title and model order (the run's, `RunConfig.models`) everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cae.pipeline imports cae.runs
    from cae.pipeline import PooledRow

__all__ = ["POOLED_HEADER", "pct", "pooled_cells", "pooled_title", "text_table"]

POOLED_HEADER = ("model", "K", "R2 total", "R2 predictive", "observations")


def pct(value: float | None) -> str:
    """Return a fraction as percent with two decimals (`0.55484` -> `55.48`); `n/a` if missing."""
    return "n/a" if value is None else f"{100 * value:.2f}"


def pooled_title(run_id: str) -> str:
    """Return the title of a run's pooled R2 table, short enough for one terminal line."""
    return f"Out-of-sample R2 (%), pooled over test blocks, run {run_id}"


def pooled_cells(row: PooledRow) -> tuple[str, ...]:
    """Return one pooled row (`cae.pipeline.PooledRow`) as the cells of `POOLED_HEADER`."""
    return (row.model, str(row.n_factors), pct(row.r2_total), pct(row.r2_pred), f"{row.n_obs:,}")


def text_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Return a plain-text table for logs: the first column left-aligned, the others right."""
    lines = [tuple(header), *(tuple(r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    )
