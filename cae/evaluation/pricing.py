"""Pricing errors of characteristic-managed portfolios (GKX 2021, Table 2 and Figure 3).

Test assets: the characteristic-managed portfolios of KPS (2019, eq. 6), `x[t] = Z[t]' r[t] / N[t]`
with `Z = [1, X[t]]` over the N[t] tickers observed at t: the first is the equal-weighted market
("market"), then one per characteristic, weighting each ticker by its rank in [-1, 1] (a
long-short portfolio, gross weight at most 1). Not the regression portfolios `(Z'Z)^-1 Z' r` the
autoencoders take as inputs (`cae.models.portfolios`): two nearly collinear characteristics
(beta and betasq on the sample) give those offsetting weights and daily returns of +-8%. A
model's fitted return on an asset is the same portfolio of its fitted stock returns: the map is
linear, so it equals the portfolio's beta times the factors, GKX's portfolio-level fit.

Per asset over its test dates (KPS 2019, section 4.2; GKX 2021, Figure 3): the pricing error is
`u[t] = x[t] - x_hat_total[t]` (realised factors); `alpha` is its mean and `t_alpha = alpha /
(sd(u) / sqrt(T))`, sd with T - 1 degrees of freedom and no autocorrelation correction.
`alpha_pred` and `t_alpha_pred` do the same with the predictive fit (beta times lambda): the
mean return the model's risk premia leave unexplained. Asset R2s are uncentered,
`1 - sum (x - x_hat)^2 / sum x^2`, total and predictive.
Rows hold the sums that pool across windows, so pooled rows (window_id null) are the statistics
of the windows' test dates put end to end, never means of window statistics.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch

from cae.panel.tensors import Panel

__all__ = ["MARKET", "PRICING_SCHEMA", "pool_pricing_errors", "portfolio_returns", "pricing_rows"]

MARKET = "market"  # the equal-weighted market's asset name; the others are characteristic names

PRICING_SCHEMA = {
    "window_id": pl.Int64,
    "model": pl.String,
    "asset": pl.String,
    "n_dates": pl.Int64,
    "mean_ret": pl.Float64,
    "alpha": pl.Float64,
    "t_alpha": pl.Float64,
    "alpha_pred": pl.Float64,
    "t_alpha_pred": pl.Float64,
    "r2_total": pl.Float64,
    "r2_pred": pl.Float64,
    # Pooling parts: sums over dates of u^2 (total fit), of (x - x_hat_pred)^2 and of x^2.
    "sse_total": pl.Float64,
    "sse_pred": pl.Float64,
    "ssx": pl.Float64,
}


def portfolio_returns(panel: Panel, y: torch.Tensor) -> torch.Tensor:
    """Return the test assets' returns (T, 1 + P) built from stock returns `y` (T, N).

    Column 0 is the equal-weighted market, then one portfolio per characteristic in
    `panel.char_names` order. Weights come from `panel.X` and `panel.mask` only, so passing
    fitted returns gives the assets' fitted returns. A date with no observed ticker gets zeros.
    """
    mask = panel.mask.unsqueeze(-1)  # (T, N, 1)
    Z = torch.cat([torch.ones_like(mask, dtype=torch.float64), panel.X.double()], dim=-1) * mask
    n_obs = panel.mask.sum(dim=1, keepdim=True).clamp(min=1)  # (T, 1)
    return torch.einsum("tnp,tn->tp", Z, y.double()) / n_obs  # (T, 1 + P)


def pricing_rows(
    window_id: int, model: str, test: Panel, y_total: torch.Tensor, y_pred: torch.Tensor
) -> pl.DataFrame:
    """Return one row per test asset for a model's fits on one window's test block.

    Dates with no observed ticker (the panel's last date under a forward target) are left out.
    """
    dated = test.mask.any(dim=1)  # (T,)
    x, x_total, x_pred = (portfolio_returns(test, y)[dated] for y in (test.y, y_total, y_pred))
    u, u_pred = x - x_total, x - x_pred  # (T, A)
    n_dates = int(dated.sum())
    parts = pl.DataFrame(
        {
            "window_id": window_id,
            "model": model,
            "asset": [MARKET, *test.char_names],
            "n_dates": n_dates,
            "sum_ret": _np(x.sum(dim=0)),
            "sum_err": _np(u.sum(dim=0)),
            "sum_err_pred": _np(u_pred.sum(dim=0)),
            "sse_total": _np((u * u).sum(dim=0)),
            "sse_pred": _np((u_pred * u_pred).sum(dim=0)),
            "ssx": _np((x * x).sum(dim=0)),
        }
    )
    return _statistics(parts)


def pool_pricing_errors(rows: pl.DataFrame) -> pl.DataFrame:
    """Return one pooled row per model and asset (window_id null) from per-window rows."""
    per_window = rows.filter(pl.col("window_id").is_not_null())
    parts = per_window.group_by("model", "asset", maintain_order=True).agg(
        pl.lit(None, pl.Int64).alias("window_id"),
        pl.col("n_dates").sum(),
        (pl.col("mean_ret") * pl.col("n_dates")).sum().alias("sum_ret"),
        (pl.col("alpha") * pl.col("n_dates")).sum().alias("sum_err"),
        (pl.col("alpha_pred") * pl.col("n_dates")).sum().alias("sum_err_pred"),
        pl.col("sse_total", "sse_pred", "ssx").sum(),
    )
    return _statistics(parts)


def _statistics(parts: pl.DataFrame) -> pl.DataFrame:
    """Return the table's rows from the sums over dates (`pricing_rows`' parts)."""
    n = pl.col("n_dates").cast(pl.Float64)
    alpha, alpha_pred = pl.col("sum_err") / n, pl.col("sum_err_pred") / n
    return parts.with_columns(
        mean_ret=pl.col("sum_ret") / n,
        alpha=alpha,
        t_alpha=_t_statistic(alpha, pl.col("sse_total"), n),
        alpha_pred=alpha_pred,
        t_alpha_pred=_t_statistic(alpha_pred, pl.col("sse_pred"), n),
        r2_total=pl.when(pl.col("ssx") > 0).then(1 - pl.col("sse_total") / pl.col("ssx")),
        r2_pred=pl.when(pl.col("ssx") > 0).then(1 - pl.col("sse_pred") / pl.col("ssx")),
    ).select(pl.col(name).cast(dtype) for name, dtype in PRICING_SCHEMA.items())


def _t_statistic(mean: pl.Expr, sum_squares: pl.Expr, n: pl.Expr) -> pl.Expr:
    """Return mean / (sd / sqrt(n)) from the mean and sum of squares; null if n < 2 or sd 0."""
    # sum (u - mean)^2 = sum u^2 - n mean^2; clipped: rounding can push it just below 0.
    variance = ((sum_squares - n * mean**2) / (n - 1)).clip(lower_bound=0.0)
    return pl.when((n > 1) & (variance > 0)).then(mean / (variance / n).sqrt())


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()
