"""Which characteristics and dates a window's fit may use, when some are absent on some dates.

On a panel's first dates a long-window characteristic (mom6m, beta, mvel1, ...) is missing for
every ticker, so after rank normalisation it is 0 for all of them: there it carries no
information, and 0 means "absent" on those dates but "median" later. The rule, per window:

- a characteristic is kept when it varies across tickers on more than `MIN_VARYING_SHARE` of the
  training dates (dates with at least two observed tickers; one ticker cannot show variation),
  otherwise it is left out of the fit and of every later prediction;
- the training dates on which a kept characteristic is constant are left out of the fit (their
  cells are masked): they would teach the model that "absent" is "median";
- if the kept characteristics' constant dates together leave no more than that share of dates
  to fit, the characteristic present on the fewest dates is left out too, until they do;
- a kept characteristic that is a linear combination of the others over the dates fitted is left
  out: it adds nothing and leaves Z'Z singular, and IPCA then spends a factor on that null
  direction. On the daily sample betasq ranks almost exactly as beta does (18 of 57,779 betas
  are negative); with both, IPCA's last window had a training factor of 43 (0.04 for the
  others) and test factors up to 21.

A panel whose characteristics vary on every date is used unchanged. Factors of the dates left
out, and of any later date on which a kept characteristic is constant, are not realised: models
give them the mean of the training factors of the dates fitted (`fill_constant_dates`), so
lambda (the mean of earlier factors) is the mean over fitted dates, never pulled by zeros, NaN or
an ill-posed factor estimate. `cae.models.ipca` and `cae.models.autoencoder` explain what it cost
them to fit on such dates.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch

from cae.models._regress import CHUNK_CELLS
from cae.panel.tensors import Panel

__all__ = [
    "CONSTANT_SPREAD",
    "MIN_VARIANCE_SHARE",
    "MIN_VARYING_SHARE",
    "FitInputs",
    "constant_dates",
    "fill_constant_dates",
    "fit_inputs",
    "keep_chars",
    "left_out",
    "select_chars",
    "variation",
    "without_collinear",
    "without_dates",
]

logger = logging.getLogger(__name__)

# A characteristic whose spread (max - min) across the observed tickers of a date is at most this
# is constant on that date. Ranks of N tickers in [-1, 1] are 2 / (N - 1) apart, far above it for
# any N below 10 million; float32 resolution near 1 is 1.2e-7.
CONSTANT_SPREAD = 1e-7

# A characteristic is kept when it varies on more than this share of a window's training dates,
# and the fit must keep more than this share of them. Keeping a characteristic costs the fit its
# constant dates (for every characteristic), leaving it out costs its information on the dates
# where it varies: at one half the fit never loses the majority of its dates (standard errors
# grow by less than sqrt(2)) and a characteristic is used when it is present more often than not.
MIN_VARYING_SHARE = 0.5

# A combination of the kept characteristics, standardised over the fit's observed cells, whose
# variance is below this share of one characteristic's (an eigenvalue of their correlation
# matrix) makes them collinear: one of them is within R2 = 1 - 1e-6 of the others. Ranks of
# distinct characteristics are far from that (the smallest eigenvalue on the sample's 16
# characteristics besides beta and betasq is 1.1e-2); beta and betasq give 2e-9.
MIN_VARIANCE_SHARE = 1e-6


def variation(panel: Panel) -> tuple[torch.Tensor, torch.Tensor]:
    """Return which characteristics vary across observed tickers per date, and the dates counted.

    Returns `varies` (T, P), bool, and `counted` (T,), bool: dates with at least two observed
    tickers (one ticker cannot show variation). Works over chunks of dates, so no full-size copy
    of X is made.
    """
    T, N, P = panel.X.shape
    varies = torch.zeros((T, P), dtype=torch.bool)
    step = max(1, CHUNK_CELLS // max(N * P, 1))
    for start in range(0, T, step):
        rows = slice(start, start + step)
        X, m = panel.X[rows], panel.mask[rows]
        observed = m.unsqueeze(-1)  # (t, N, 1)
        high = torch.where(observed, X, -torch.inf).amax(dim=1)  # (t, P)
        low = torch.where(observed, X, torch.inf).amin(dim=1)  # (t, P)
        varies[rows] = ((high - low) > CONSTANT_SPREAD).cpu()
    return varies, _counted(panel)


def _counted(panel: Panel) -> torch.Tensor:
    # Dates with at least two observed tickers (T,), bool: one ticker cannot show variation.
    return (panel.mask.sum(dim=1) >= 2).cpu()


def select_chars(panel: Panel, min_share: float = MIN_VARYING_SHARE) -> torch.Tensor:
    """Return which characteristics a fit on `panel` keeps (P,), bool (module docstring rule).

    Kept: those varying on more than `min_share` of the counted dates, so long as the dates on
    which every kept one varies are more than `min_share` of them; otherwise the kept
    characteristic varying on the fewest dates is left out, and so on. With no counted date,
    every characteristic is kept.
    """
    varies, counted = variation(panel)
    varies = varies[counted]  # (T_counted, P)
    n_counted = varies.shape[0]
    if n_counted == 0:
        return torch.ones(panel.n_chars, dtype=torch.bool)
    share = varies.sum(dim=0).double() / n_counted  # (P,)
    keep = share > min_share
    while bool(keep.any()):
        fit_share = float(varies[:, keep].all(dim=1).sum()) / n_counted
        if fit_share > min_share:
            break
        rarest = int(torch.where(keep, share, torch.inf).argmin())
        keep[rarest] = False
    fit_dates = torch.zeros(panel.n_dates, dtype=torch.bool)
    fit_dates[counted] = varies[:, keep].all(dim=1)
    return _without_collinear(panel, keep, fit_dates)


def without_collinear(panel: Panel) -> torch.Tensor:
    """Return which characteristics to keep (P,), bool: all but those collinear with the others.

    The collinearity half of the rule, over every date with at least two observed tickers, for
    per-date regressions (`cae.models.cross_sectional`): they need no date left out, since a
    characteristic constant on a date only costs that date's regression a column.
    """
    every = torch.ones(panel.n_chars, dtype=torch.bool)
    return _without_collinear(panel, every, _counted(panel))


def _without_collinear(panel: Panel, keep: torch.Tensor, fit_dates: torch.Tensor) -> torch.Tensor:
    """Return `keep` less characteristics collinear with the others on `fit_dates` (T,).

    While the correlation matrix of the kept characteristics, over the observed cells of the fit
    dates, has an eigenvalue below `MIN_VARIANCE_SHARE`, the characteristic carrying most of its
    eigenvector (the later in panel order among equal ones) is left out.
    """
    keep = keep.clone()
    if int(keep.sum()) < 2:
        return keep
    corr = _correlation(panel, keep, fit_dates)  # (P_kept, P_kept)
    index = torch.nonzero(keep).squeeze(1)  # (P_kept,)
    alive = torch.ones(len(index), dtype=torch.bool)
    while int(alive.sum()) >= 2:
        sub = torch.nonzero(alive).squeeze(1)
        evals, evecs = torch.linalg.eigh(corr[sub][:, sub])
        if float(evals[0]) >= MIN_VARIANCE_SHARE:
            break
        weight = evecs[:, 0].abs()
        candidates = torch.nonzero(weight >= (1 - 1e-3) * weight.max()).squeeze(1)
        alive[sub[int(candidates[-1])]] = False
    keep[index[~alive]] = False
    return keep


def _correlation(panel: Panel, keep: torch.Tensor, fit_dates: torch.Tensor) -> torch.Tensor:
    """Return the pooled correlation (P_kept, P_kept) of kept characteristics on fit cells."""
    T, N, _ = panel.X.shape
    P = int(keep.sum())
    cols = keep.to(panel.X.device)
    total = torch.zeros(P, dtype=torch.float64)
    cross = torch.zeros((P, P), dtype=torch.float64)
    count = 0
    step = max(1, CHUNK_CELLS // max(N * P, 1))
    for start in range(0, T, step):
        rows = slice(start, start + step)
        cells = panel.mask[rows] & fit_dates[rows].to(panel.mask.device).unsqueeze(1)
        Z = panel.X[rows][cells][:, cols].to(torch.float64).cpu()  # (R, P_kept)
        total += Z.sum(dim=0)
        cross += Z.T @ Z
        count += Z.shape[0]
    mean = total / max(count, 1)
    cov = cross / max(count, 1) - torch.outer(mean, mean)
    scale = cov.diagonal().clamp(min=1e-300).sqrt()
    return cov / torch.outer(scale, scale)


@dataclasses.dataclass(frozen=True)
class FitInputs:
    """What a window's fit uses of its training panel, by the module docstring's rule."""

    keep: torch.Tensor  # (P,) bool over the training panel's characteristics
    panel: Panel  # the training panel restricted to the kept characteristics
    fit_dates: torch.Tensor  # (T,) bool: dates on which every kept characteristic varies
    left_out: tuple[str, ...]  # the characteristics not kept

    @property
    def n_dates_left_out(self) -> int:
        """Return how many training dates the fit leaves out."""
        return int((~self.fit_dates).sum())

    def fitted_panel(self) -> Panel:
        """Return `panel` with the dates left out masked, for fits that take a whole panel."""
        return without_dates(self.panel, ~self.fit_dates)


def fit_inputs(train: Panel) -> FitInputs:
    """Return the characteristics and dates a fit on `train` uses (IPCA and the autoencoders)."""
    keep = select_chars(train)
    kept = keep_chars(train, keep)
    return FitInputs(keep, kept, ~constant_dates(kept), left_out(train, keep))


def constant_dates(panel: Panel) -> torch.Tensor:
    """Return the counted dates on which some characteristic of `panel` is constant (T,), bool.

    Call it on a panel already restricted to the kept characteristics (`keep_chars`).
    """
    varies, counted = variation(panel)
    return counted & ~varies.all(dim=1)


def without_dates(panel: Panel, dates: torch.Tensor) -> Panel:
    """Return `panel` with every cell of `dates` (T,), bool, masked (the panel itself if none).

    Masked cells hold 0 in X and y, as the `Panel` contract requires, so they change no fit.
    """
    if not bool(dates.any()):
        return panel
    keep = ~dates.to(panel.mask.device).unsqueeze(1)  # (T, 1)
    mask = panel.mask & keep  # (T, N)
    return dataclasses.replace(
        panel,
        X=panel.X * mask.unsqueeze(-1),
        y=panel.y * mask,
        mask=mask,
    )


def fill_constant_dates(
    f: torch.Tensor,
    panel: Panel,
    factor_mean: torch.Tensor,
    train_end: np.datetime64,
    model: str,
) -> torch.Tensor:
    """Return factors (T, K) with the dates on which a kept characteristic is constant set to mean.

    `panel` holds the kept characteristics only. On such a date the betas lose what the constant
    characteristic carries, so a factor estimated from that date's returns is ill-posed (for
    IPCA near singular); the mean of the fitted training factors leaves lambda where the fitted
    dates put it. Dates after `train_end` (out of sample) are still predicted, with these
    factors, and logged as a warning.
    """
    dates = constant_dates(panel).to(f.device)
    if not bool(dates.any()):
        return f
    f = f.clone()
    f[dates] = factor_mean.to(f.dtype).to(f.device)
    late = dates.cpu().numpy() & (panel.dates > train_end)
    if late.any():
        logger.warning(
            "%s: %d of %d dates after the training block (first %s) have a kept characteristic "
            "constant across tickers; predicted with the mean training factors",
            model,
            int(late.sum()),
            len(late),
            panel.dates[late][0],
        )
    return f


def keep_chars(panel: Panel, keep: torch.Tensor) -> Panel:
    """Return `panel` with only the characteristics where `keep` (the panel itself if all)."""
    if bool(keep.all()):
        return panel
    names = tuple(n for n, k in zip(panel.char_names, keep.tolist(), strict=True) if k)
    return dataclasses.replace(panel, X=panel.X[..., keep.to(panel.X.device)], char_names=names)


def left_out(panel: Panel, keep: torch.Tensor) -> tuple[str, ...]:
    """Return the names of the characteristics that `keep` leaves out."""
    return tuple(n for n, k in zip(panel.char_names, keep.tolist(), strict=True) if not k)
