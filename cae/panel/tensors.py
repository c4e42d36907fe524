"""Long panel <-> dense tensors: characteristics X (T, N, P), target y (T, N) and a mask (T, N).

Timing contract (every model and metric relies on it): row t of a `Panel` is the as-of date
`dates[t]`. `X[t]` holds characteristics known at the close of `dates[t]`; `y[t]` is the return the
model explains with them. With target "forward", `y[t]` is the next period's return (`ret_fwd`);
with target "contemporaneous", `X[t]` are the characteristics of the previous period and `y[t]` the
return of the period ending at `dates[t]`. Either way X[t] never contains information from the
period of y[t]. `mask[t, n]` is True where y[t, n] is observed and ticker n is in the universe;
masked cells hold 0 in X and y and must not influence any fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl
import torch

from cae.errors import PanelError

__all__ = ["Panel", "Target", "panel_from_long", "panel_to_long"]

Target = Literal["forward", "contemporaneous"]
TARGETS: tuple[str, ...] = ("forward", "contemporaneous")
# Characteristics arrive ranked into [-1, 1]; a little slack absorbs float rounding of the ranks.
MAX_ABS_CHAR = 1.0 + 1e-6


@dataclass(frozen=True)
class Panel:
    """A dense, masked panel ready for the models.

    Attributes
    ----------
    dates : np.ndarray, shape (T,), datetime64[D]
    tickers : np.ndarray, shape (N,), str
    char_names : tuple[str, ...], length P
    X : torch.Tensor, shape (T, N, P), float32; normalised characteristics, 0 where masked.
    y : torch.Tensor, shape (T, N), float32; target returns, 0 where masked.
    mask : torch.Tensor, shape (T, N), bool; True where the cell is observed.
    target : str; "forward" or "contemporaneous".
    """

    dates: np.ndarray
    tickers: np.ndarray
    char_names: tuple[str, ...]
    X: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    target: str = "forward"

    @property
    def n_dates(self) -> int:
        """Number of dates T."""
        return int(self.X.shape[0])

    @property
    def n_tickers(self) -> int:
        """Number of tickers N."""
        return int(self.X.shape[1])

    @property
    def n_chars(self) -> int:
        """Number of characteristics P."""
        return int(self.X.shape[2])

    def slice_dates(self, start: int, stop: int) -> Panel:
        """Return the rows start..stop-1 (integer date positions), sharing storage."""
        return Panel(
            dates=self.dates[start:stop],
            tickers=self.tickers,
            char_names=self.char_names,
            X=self.X[start:stop],
            y=self.y[start:stop],
            mask=self.mask[start:stop],
            target=self.target,
        )

    def to(self, device: torch.device | str) -> Panel:
        """Return the same panel with its tensors on `device`."""
        return Panel(
            dates=self.dates,
            tickers=self.tickers,
            char_names=self.char_names,
            X=self.X.to(device),
            y=self.y.to(device),
            mask=self.mask.to(device),
            target=self.target,
        )


def panel_from_long(
    frame: pl.DataFrame,
    char_names: Sequence[str],
    target: Target = "forward",
    dtype: torch.dtype = torch.float32,
    source: str = "characteristics panel",
) -> Panel:
    """Build a dense, masked `Panel` from long rows (date, ticker, ret, ret_fwd, chars...).

    Cells are placed by integer indexing (dense date rank, dense ticker rank) into preallocated
    arrays, one characteristic at a time, so memory stays near the size of `X` itself and no
    per-date pivot runs. Tickers may enter, leave and skip dates; absent cells are masked.

    Timing (see the module docstring): with "forward", row t holds the characteristics at
    `dates[t]` and `y[t] = ret_fwd`; every date is kept (the last one is fully masked because its
    `ret_fwd` is null). With "contemporaneous", row t holds the ticker's characteristics at the
    previous panel date `dates[t-1]` and `y[t] = ret` at `dates[t]`; the first date has no earlier
    characteristics and is dropped. `mask[t, n]` is True where the target is observed and the
    characteristics row exists; masked cells hold 0 in `X` and `y`.

    Parameters
    ----------
    frame : pl.DataFrame
        One row per (date, ticker): `date` (Date), `ticker` (Utf8), `ret`, `ret_fwd` (nullable
        floats) and the Float64 characteristic columns, normalised to [-1, 1], missing -> 0.
    char_names : sequence of str, length P
        The characteristic columns, in the order of the last axis of `X`.
    target : {"forward", "contemporaneous"}
    dtype : torch.dtype
        Floating dtype of `X` and `y`.
    source : str
        Names the input in error messages (a file or table name).

    Returns
    -------
    Panel
        `X` (T, N, P), `y` (T, N), `mask` (T, N); `dates` (T,) datetime64[D]; `tickers` (N,) str.

    Raises
    ------
    PanelError
        Missing columns, an empty frame, duplicate (date, ticker) rows, null, non-finite or
        out-of-range characteristics, non-finite returns; the message names the row and rule.
    """
    char_names = tuple(char_names)
    _check_long_frame(frame, char_names, target, source)
    dates = frame["date"].unique().sort().to_numpy()  # (T,)
    tickers = frame["ticker"].unique().sort().to_numpy().astype(str)  # (N,)
    idx = frame.select(
        (pl.col("date").rank("dense") - 1).cast(pl.Int64).alias("t"),
        (pl.col("ticker").rank("dense") - 1).cast(pl.Int64).alias("n"),
    )
    t_idx = idx["t"].to_numpy()
    n_idx = idx["n"].to_numpy()
    n_tickers, n_chars = len(tickers), len(char_names)

    # Contemporaneous: characteristics of date d explain the return of date d + 1, so they land
    # on output row d and the return of date d on row d - 1 (date d + 1 -> row d after dropping
    # the first date, which has no earlier characteristics).
    if target == "forward":
        out_dates, chars_row, target_row, target_col = dates, t_idx, t_idx, "ret_fwd"
    else:
        out_dates, chars_row, target_row, target_col = dates[1:], t_idx, t_idx - 1, "ret"
    n_out = len(out_dates)
    if n_out == 0:
        raise PanelError(f"{source}: a contemporaneous panel needs at least two dates")

    np_dtype = torch.empty((), dtype=dtype).numpy().dtype
    X = np.zeros((n_out, n_tickers, n_chars), dtype=np_dtype)  # (T, N, P)
    y = np.zeros((n_out, n_tickers), dtype=np_dtype)  # (T, N)
    has_chars = np.zeros((n_out, n_tickers), dtype=bool)  # (T, N)
    has_target = np.zeros((n_out, n_tickers), dtype=bool)  # (T, N)

    keep_chars = chars_row < n_out  # contemporaneous: the last date's chars explain nothing
    has_chars[chars_row[keep_chars], n_idx[keep_chars]] = True
    for p, name in enumerate(char_names):
        values = frame[name].to_numpy()
        X[chars_row[keep_chars], n_idx[keep_chars], p] = values[keep_chars]
    ret = frame[target_col]
    observed = (~ret.is_null()).to_numpy() & (target_row >= 0)
    y[target_row[observed], n_idx[observed]] = ret.to_numpy()[observed]
    has_target[target_row[observed], n_idx[observed]] = True

    mask = has_chars & has_target
    X[~mask] = 0.0
    y[~mask] = 0.0
    return Panel(
        dates=out_dates,
        tickers=tickers,
        char_names=char_names,
        X=torch.from_numpy(X),
        y=torch.from_numpy(y),
        mask=torch.from_numpy(mask),
        target=target,
    )


def panel_to_long(panel: Panel, values: Mapping[str, torch.Tensor]) -> pl.DataFrame:
    """Return the observed cells of `panel` as long rows: date, ticker, then one column per value.

    A value of shape (T, N) becomes one column named by its key; a value of shape (T, N, K)
    becomes K columns `<key>_1` .. `<key>_K`. Rows follow (date, ticker) order and cover exactly
    the cells where `panel.mask` is True.

    Parameters
    ----------
    panel : Panel
    values : mapping of str to torch.Tensor, shape (T, N) or (T, N, K)

    Returns
    -------
    pl.DataFrame
        Columns `date` (Date), `ticker` (Utf8), then the values as Float64.
    """
    mask = panel.mask.cpu()
    t_idx, n_idx = (i.numpy() for i in mask.nonzero(as_tuple=True))
    columns: dict[str, pl.Series] = {
        "date": pl.Series("date", panel.dates[t_idx]),
        "ticker": pl.Series("ticker", panel.tickers[n_idx], dtype=pl.Utf8),
    }
    for name, value in values.items():
        if tuple(value.shape[:2]) != tuple(mask.shape):
            raise ValueError(
                f"value {name!r} has shape {tuple(value.shape)}, expected (T, N) = "
                f"{tuple(mask.shape)} in its first two axes"
            )
        observed = value.detach().cpu()[mask].double().numpy()  # (R,) or (R, K)
        if observed.ndim == 1:
            columns[name] = pl.Series(name, observed)
        else:
            for k in range(observed.shape[1]):
                columns[f"{name}_{k + 1}"] = pl.Series(f"{name}_{k + 1}", observed[:, k])
    return pl.DataFrame(columns)


def _check_long_frame(
    frame: pl.DataFrame, char_names: tuple[str, ...], target: str, source: str
) -> None:
    """Raise PanelError naming the row and rule when `frame` breaks the long-panel contract."""
    if target not in TARGETS:
        raise PanelError(f"{source}: target must be one of {TARGETS}, not {target!r}")
    required = ("date", "ticker", "ret", "ret_fwd", *char_names)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise PanelError(f"{source}: missing required columns {missing}")
    if frame.height == 0:
        raise PanelError(f"{source}: no rows")
    if frame.schema["date"] != pl.Date:
        raise PanelError(f"{source}: column 'date' must be Date, not {frame.schema['date']}")
    is_dup = frame.select(pl.struct("date", "ticker").is_duplicated()).to_series()
    if is_dup.any():
        dup = int(is_dup.arg_max())
        row = frame.row(dup, named=True)
        raise PanelError(
            f"{source}: row {dup}: duplicate (date, ticker) = ({row['date']}, {row['ticker']}); "
            "rule: one row per date and ticker"
        )
    for name in char_names:
        col = frame[name]
        if not col.dtype.is_float():
            raise PanelError(f"{source}: characteristic {name!r} must be a float column")
        bad = col.is_null() | ~col.is_finite() | (col.abs() > MAX_ABS_CHAR)
        if bad.any():
            row = int(bad.arg_max())
            raise PanelError(
                f"{source}: row {row}: characteristic {name!r} = {col[row]}; rule: "
                "characteristics are finite, normalised to [-1, 1], with missing set to 0"
            )
    for name in ("ret", "ret_fwd"):
        col = frame[name]
        bad = col.is_not_null() & ~col.is_finite()
        if bad.any():
            row = int(bad.arg_max())
            raise PanelError(
                f"{source}: row {row}: {name} = {col[row]}; rule: returns are finite or null"
            )
