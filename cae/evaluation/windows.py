"""Train / validation / test window plans over a panel's dates (Gu, Kelly & Xiu 2019, section 2.4).

The paper's scheme: the training block starts at the first date and expands by the refit step each
window, a fixed-length validation block follows it and rolls forward, and the test block is the
refit step after the validation block. A rolling plan moves the start of training too. Windows are
independent index ranges, so each can be fitted on its own (in parallel).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import polars as pl

from cae.errors import ConfigError
from cae.panel.tensors import Panel

__all__ = ["Window", "WindowPlan", "plan_windows", "windows_frame"]

Scheme = Literal["expanding", "rolling"]


@dataclass(frozen=True)
class WindowPlan:
    """How to cut a panel's dates into windows; lengths are in periods of the panel's frequency.

    Defaults are the paper's monthly scheme: 18 years of training that expands, 12 years of
    validation that rolls, and 1 year of test, refitted every year.
    """

    scheme: Scheme = "expanding"  # "expanding": training keeps its start; "rolling": it moves
    n_train: int = 216  # periods in the first training block (18 years of months)
    n_val: int = 144  # periods in every validation block (12 years of months)
    n_test: int = 12  # periods in every test block (1 year of months)
    step: int | None = None  # periods between refits; None means n_test (tests tile the sample)
    allow_partial_test: bool = True  # the last test block may be shorter and end at the last date

    @property
    def refit_step(self) -> int:
        """Periods between consecutive windows."""
        return self.n_test if self.step is None else self.step


@dataclass(frozen=True)
class Window:
    """One window: half-open integer date ranges [start, stop) into the panel, and their dates."""

    window_id: int
    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]
    dates: np.ndarray = field(compare=False, repr=False)  # the panel's dates, for `bounds`

    def split(self, panel: Panel) -> tuple[Panel, Panel, Panel]:
        """Return the (train, val, test) panels of this window, sharing the panel's storage."""
        return (
            panel.slice_dates(*self.train),
            panel.slice_dates(*self.val),
            panel.slice_dates(*self.test),
        )

    def bounds(self) -> dict[str, np.datetime64]:
        """Return the first and last date (inclusive) of each block, named as in `windows`."""
        out = {}
        for block in ("train", "val", "test"):
            start, stop = getattr(self, block)
            out[f"{block}_start"] = self.dates[start]
            out[f"{block}_end"] = self.dates[stop - 1]
        return out


def plan_windows(plan: WindowPlan, dates: np.ndarray) -> list[Window]:
    """Cut `dates` into the windows of `plan`, in time order.

    Parameters
    ----------
    plan : WindowPlan
    dates : np.ndarray, shape (T,); the panel's dates, increasing.

    Returns
    -------
    list[Window]; every test block starts right after its validation block, which starts right
    after its training block, so no block sees a date of the block after it.
    """
    _check(plan)
    n_dates = len(dates)
    first_test = plan.n_train + plan.n_val
    if first_test + (1 if plan.allow_partial_test else plan.n_test) > n_dates:
        raise ConfigError(
            f"window plan needs at least {first_test + plan.n_test} dates "
            f"(train {plan.n_train} + val {plan.n_val} + test {plan.n_test}); "
            f"the panel has {n_dates}"
        )
    windows = []
    shift = 0
    while True:
        train_start = shift if plan.scheme == "rolling" else 0
        train_stop = plan.n_train + shift
        val_stop = train_stop + plan.n_val
        test_stop = min(val_stop + plan.n_test, n_dates)
        if val_stop >= n_dates or (
            test_stop - val_stop < plan.n_test and not plan.allow_partial_test
        ):
            break
        windows.append(
            Window(
                window_id=len(windows),
                train=(train_start, train_stop),
                val=(train_stop, val_stop),
                test=(val_stop, test_stop),
                dates=dates,
            )
        )
        shift += plan.refit_step
    return windows


def windows_frame(windows: list[Window]) -> pl.DataFrame:
    """Return the `windows` table (no run_id): one row per window, inclusive date bounds."""
    cols = ["train_start", "train_end", "val_start", "val_end", "test_start", "test_end"]
    bounds = [w.bounds() for w in windows]
    data = {c: np.array([b[c] for b in bounds], dtype="datetime64[D]") for c in cols}
    return pl.DataFrame(
        {"window_id": np.array([w.window_id for w in windows], dtype=np.int64), **data}
    ).with_columns(pl.col(cols).cast(pl.Date))


def _check(plan: WindowPlan) -> None:
    if plan.scheme not in ("expanding", "rolling"):
        raise ConfigError(f"window scheme must be 'expanding' or 'rolling', not {plan.scheme!r}")
    for name in ("n_train", "n_val", "n_test", "refit_step"):
        if getattr(plan, name) < 1:
            raise ConfigError(f"window {name} must be at least 1, not {getattr(plan, name)}")
