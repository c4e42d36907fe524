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

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Panel"]


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
