"""Tiny synthetic panels for the model tests (the full simulator is cae/datasets/simulate.py's
job)."""

import datetime as dt

import numpy as np
import polars as pl
import torch

from cae.panel.tensors import Panel


def long_frame(n_dates=12, n_tickers=7, n_chars=3, seed=0, drop=0.25) -> pl.DataFrame:
    """Long rows with listings, delistings and gaps: `drop` of the (date, ticker) cells absent."""
    rng = np.random.default_rng(seed)
    dates = [dt.date(2020, 1, 3) + dt.timedelta(weeks=w) for w in range(n_dates)]
    rows = []
    present = rng.random((n_dates, n_tickers)) > drop
    present[:, 0] = True  # one ticker always listed
    present[: n_dates // 2, 1] = False  # a late listing
    for t in range(n_dates):
        for n in range(n_tickers):
            if present[t, n]:
                rows.append((dates[t], f"T{n:02d}", *rng.uniform(-1, 1, n_chars).round(3)))
    frame = pl.DataFrame(
        rows, schema=["date", "ticker", *[f"c{p}" for p in range(n_chars)]], orient="row"
    )
    frame = frame.with_columns(ret=pl.Series(rng.normal(0, 0.05, frame.height)))
    # ret_fwd is the ticker's next-date return, null when the ticker is absent next date
    nxt = frame.select("date", "ticker", "ret").with_columns(pl.col("date") - pl.duration(weeks=1))
    frame = frame.join(nxt.rename({"ret": "ret_fwd"}), on=["date", "ticker"], how="left")
    return frame.sort("date", "ticker").select(
        "date", "ticker", "ret", "ret_fwd", *[f"c{p}" for p in range(n_chars)]
    )


def factor_panel(
    n_dates=40, n_tickers=30, n_chars=4, n_factors=2, seed=0, observed=0.8, noise=0.02
) -> Panel:
    """A dense panel with y = beta(X) . f + noise, beta nonlinear in two characteristics."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.rand(n_dates, n_tickers, n_chars, generator=gen) * 2 - 1
    beta = torch.stack([X[..., 0], X[..., 1] ** 2 - 0.3], dim=-1)[..., :n_factors]
    f = torch.randn(n_dates, n_factors, generator=gen) * 0.05 + 0.01
    y = torch.einsum("tnk,tk->tn", beta, f) + noise * torch.randn(n_dates, n_tickers, generator=gen)
    mask = torch.rand(n_dates, n_tickers, generator=gen) < observed
    X = torch.where(mask[..., None], X, torch.zeros_like(X))
    y = torch.where(mask, y, torch.zeros_like(y))
    start = np.datetime64("2020-01-03")
    return Panel(
        dates=start + np.arange(n_dates) * np.timedelta64(7, "D"),
        tickers=np.array([f"T{n:02d}" for n in range(n_tickers)]),
        char_names=tuple(f"c{p}" for p in range(n_chars)),
        X=X,
        y=y,
        mask=mask,
    )
