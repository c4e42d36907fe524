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


def all_tables(seed: int = 0) -> dict[str, pl.DataFrame]:
    return {
        "windows": windows(),
        "betas": betas(seed),
        "factors": factors(seed),
        "fitted": fitted(seed),
        "metrics": metrics(),
    }
