"""Which characteristics a window's fit may use: those that vary across tickers on every date.

On a panel's first dates a long-window characteristic (mom12m, beta, mvel1, ...) is missing for
every ticker, so after rank normalisation it is 0 for all of them: there it carries no
information, and 0 means "absent" on those dates but "median" later. Models fitted on such dates
leave the characteristic out for the whole window (in the fit and in every later prediction); a
panel whose characteristics vary on every date is used unchanged. `cae.models.ipca` and
`cae.models.autoencoder` explain what it cost them not to.
"""

from __future__ import annotations

import dataclasses

import torch

from cae.models._regress import CHUNK_CELLS
from cae.tensors import Panel

__all__ = ["CONSTANT_SPREAD", "keep_chars", "left_out", "varying_chars"]

# A characteristic whose spread (max - min) across the observed tickers of a date is at most this
# is constant on that date. Ranks of N tickers in [-1, 1] are 2 / (N - 1) apart, far above it for
# any N below 10 million; float32 resolution near 1 is 1.2e-7.
CONSTANT_SPREAD = 1e-7


def varying_chars(panel: Panel) -> torch.Tensor:
    """Return which characteristics vary across the observed tickers on every date (P,), bool.

    Dates with fewer than two observed tickers are skipped: one ticker cannot show variation.
    Works over chunks of dates, so no full-size copy of X is made.
    """
    T, N, P = panel.X.shape
    keep = torch.ones(P, dtype=torch.bool)
    step = max(1, CHUNK_CELLS // max(N * P, 1))
    for start in range(0, T, step):
        rows = slice(start, start + step)
        X, m = panel.X[rows], panel.mask[rows]
        observed = m.unsqueeze(-1)  # (t, N, 1)
        high = torch.where(observed, X, -torch.inf).amax(dim=1)  # (t, P)
        low = torch.where(observed, X, torch.inf).amin(dim=1)  # (t, P)
        varies = (high - low) > CONSTANT_SPREAD  # (t, P)
        counted = m.sum(dim=1) >= 2  # (t,)
        keep &= (varies | ~counted.unsqueeze(1)).all(dim=0)
    return keep


def keep_chars(panel: Panel, keep: torch.Tensor) -> Panel:
    """Return `panel` with only the characteristics where `keep` (the panel itself if all)."""
    if bool(keep.all()):
        return panel
    names = tuple(n for n, k in zip(panel.char_names, keep.tolist(), strict=True) if k)
    return dataclasses.replace(panel, X=panel.X[..., keep], char_names=names)


def left_out(panel: Panel, keep: torch.Tensor) -> tuple[str, ...]:
    """Return the names of the characteristics that `keep` leaves out."""
    return tuple(n for n, k in zip(panel.char_names, keep.tolist(), strict=True) if not k)
