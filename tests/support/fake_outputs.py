"""Small, hand-checkable output frames shaped like docs/architecture.md's tables (no model)."""

from datetime import date, timedelta

import numpy as np
import polars as pl

MODELS = ("ca1", "pca")
N_FACTORS = 3
FACTORS = tuple(f"f{k + 1}" for k in range(N_FACTORS))
TICKERS = ("AAA", "BBB", "CCC", "DDD")
WINDOW_TEST_DATES = ((date(2020, 1, 1), 6), (date(2020, 1, 7), 6))  # (test_start, n_days)


def windows() -> pl.DataFrame:
    rows = []
    for window_id, (test_start, n_days) in enumerate(WINDOW_TEST_DATES):
        rows.append(
            {
                "window_id": window_id,
                "train_start": test_start - timedelta(days=60),
                "train_end": test_start - timedelta(days=21),
                "val_start": test_start - timedelta(days=20),
                "val_end": test_start - timedelta(days=1),
                "test_start": test_start,
                "test_end": test_start + timedelta(days=n_days - 1),
            }
        )
    return pl.DataFrame(rows)


def window_dates(window_id: int) -> list[date]:
    test_start, n_days = WINDOW_TEST_DATES[window_id]
    return [test_start + timedelta(days=i) for i in range(n_days)]


def factors(seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for window_id in range(len(WINDOW_TEST_DATES)):
        for model in MODELS:
            for k in FACTORS:
                values = rng.normal(0.001, 0.01, size=len(window_dates(window_id)))
                for i, d in enumerate(window_dates(window_id)):
                    lam = float(values[:i].mean()) if i else None
                    rows.append((window_id, model, d, k, float(values[i]), lam))
    return pl.DataFrame(
        rows,
        schema=["window_id", "model", "date", "factor", "value", "lambda"],
        orient="row",
    )


def betas(seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for window_id in range(len(WINDOW_TEST_DATES)):
        for model in MODELS:
            for d in window_dates(window_id):
                for ticker in TICKERS:
                    for k in FACTORS:
                        rows.append((window_id, model, d, ticker, k, float(rng.normal(1.0, 0.5))))
    return pl.DataFrame(
        rows, schema=["window_id", "model", "date", "ticker", "factor", "beta"], orient="row"
    )


def fitted(seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for window_id in range(len(WINDOW_TEST_DATES)):
        for model in MODELS:
            for d in window_dates(window_id):
                for ticker in TICKERS:
                    ret = float(rng.normal(0, 0.02))
                    rows.append((window_id, model, d, ticker, ret, ret * 0.5, ret * 0.1))
    return pl.DataFrame(
        rows,
        schema=["window_id", "model", "date", "ticker", "ret", "ret_hat_total", "ret_hat_pred"],
        orient="row",
    )


def metrics() -> pl.DataFrame:
    rows = []
    for window_id in range(len(WINDOW_TEST_DATES)):
        for m, model in enumerate(MODELS):
            for split in ("train", "test"):
                r2 = 0.1 * (m + 1) + 0.01 * window_id
                rows.append((window_id, model, N_FACTORS, split, r2, r2 / 10, 24))
    for m, model in enumerate(MODELS):
        rows.append((None, model, N_FACTORS, "test", 0.1 * (m + 1), 0.01 * (m + 1), 48))
    return pl.DataFrame(
        rows,
        schema=["window_id", "model", "n_factors", "split", "r2_total", "r2_pred", "n_obs"],
        orient="row",
    )


ASSETS = ("market", "c1", "c2")
CHARACTERISTICS = ("c1", "c2", "c3")


def long_short(seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed + 1)
    rows = [
        {"window_id": w, "model": m, "date": d, "n_leg": 1, "ret_ew": float(rng.normal(0, 0.01))}
        for w in range(len(WINDOW_TEST_DATES))
        for m in MODELS
        for d in window_dates(w)
    ]
    return pl.DataFrame(rows)


def pricing_errors(seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed + 2)
    rows = []
    for window_id in (0, 1, None):
        for model in MODELS:
            for asset in ASSETS:
                mean_ret, alpha = rng.normal(0, 0.001, 2)
                rows.append(
                    {
                        "window_id": window_id,
                        "model": model,
                        "asset": asset,
                        "n_dates": 12 if window_id is None else 6,
                        "mean_ret": mean_ret,
                        "alpha": alpha,
                        "t_alpha": alpha / 0.0005,
                        "alpha_pred": mean_ret,
                        "t_alpha_pred": mean_ret / 0.0005,
                        "r2_total": 0.5,
                        "r2_pred": 0.01,
                        "sse_total": 1.0,
                        "sse_pred": 1.98,
                        "ssx": 2.0,
                    }
                )
    return pl.DataFrame(rows)


def importance() -> pl.DataFrame:
    # PCA's betas use no characteristic: its shares are null.
    shares = {"ca1": (0.6, 0.3, 0.1), "pca": (None, None, None)}
    rows = [
        {
            "window_id": window_id,
            "model": model,
            "characteristic": name,
            "r2_drop": None if share is None else share / 10,
            "importance": share,
            "sse_zeroed": 1.0,
            "sse_total": 1.0,
            "ssy": 2.0,
        }
        for window_id in (0, 1, None)
        for model, model_shares in shares.items()
        for name, share in zip(CHARACTERISTICS, model_shares, strict=True)
    ]
    return pl.DataFrame(rows, schema_overrides={"r2_drop": pl.Float64, "importance": pl.Float64})


def all_tables(seed: int = 0) -> dict[str, pl.DataFrame]:
    return {
        "windows": windows(),
        "betas": betas(seed),
        "factors": factors(seed),
        "fitted": fitted(seed),
        "metrics": metrics(),
        "long_short": long_short(seed),
        "pricing_errors": pricing_errors(seed),
        "importance": importance(),
    }
