from datetime import date

import polars as pl
import pytest

from cae.runs import r2_format


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.5548, "55.48"),
        (0.551, "55.10"),  # never "55.1" beside "55.48"
        (-0.0087, "-0.87"),
        (0.0, "0.00"),
        (None, "n/a"),
        (float("nan"), "n/a"),
    ],
)
def test_r2_is_a_percent_with_two_decimals(value, text):
    assert r2_format.format_r2(value) == text
    frame = pl.DataFrame({"r2": [value]}, schema={"r2": pl.Float64})
    assert frame.select(r2_format.r2_text(pl.col("r2")))["r2"].to_list() == [text]


def test_models_come_in_family_order_and_unknown_ones_last():
    names = ["pca", "zeta", "cross_sectional", "CA1-reg", "observable", "CA2", "ipca", "CA0"]
    assert r2_format.sort_models([*names, "pca"]) == [
        "CA0",
        "CA2",
        "CA1-reg",
        "ipca",
        "pca",
        "observable",
        "cross_sectional",
        "zeta",
    ]


def test_the_baseline_order_names_every_registered_baseline():
    from cae.models import registry

    assert sorted(r2_format.BASELINE_ORDER) == sorted(registry.BASELINES)
    assert all(
        r2_format.sort_models([name, "ipca"])[0] == name
        for name in registry.MODELS
        if name not in registry.BASELINES
    )


def _metrics(rows):
    return pl.DataFrame(
        rows,
        schema=["window_id", "model", "n_factors", "split", "r2_total", "r2_pred", "n_obs"],
        orient="row",
    )


def test_pooled_table_is_text_in_family_order():
    pooled = _metrics(
        [
            (None, "pca", 3, "test", 0.577, -0.0072, 41655),
            (None, "CA0", 3, "test", 0.5629, None, 41655),
        ]
    )
    got = r2_format.pooled_r2_table(pooled)
    assert got.columns == ["model", "K", "R2 total %", "R2 predictive %", "observations"]
    assert got.rows() == [
        ("CA0", "3", "56.29", "n/a", "41,655"),
        ("pca", "3", "57.70", "-0.72", "41,655"),
    ]


def test_grid_has_a_row_per_window_then_the_pooled_row_and_a_column_per_model():
    metrics = _metrics(
        [
            (1, "pca", 3, "test", 0.2, 0.0, 10),
            (0, "pca", 3, "test", 0.1, 0.0, 10),
            (0, "pca", 3, "train", 0.9, 0.0, 10),  # another split: not shown
            (0, "CA0", 1, "test", 0.3, 0.0, 10),
            (0, "CA0", 2, "test", 0.4, 0.0, 10),
            (None, "pca", 3, "test", 0.15, 0.0, 20),
        ]
    )
    windows = pl.DataFrame(
        {
            "window_id": [1, 0],
            "test_start": [date(2020, 2, 1), date(2020, 1, 1)],
            "test_end": [date(2020, 2, 28), date(2020, 1, 31)],
        }
    )
    grid = r2_format.r2_grid(metrics, windows)
    assert grid.columns == ["window", "test_start", "test_end", "CA0 K=1", "CA0 K=2", "pca"]
    assert grid.rows() == [
        ("0", "2020-01-01", "2020-01-31", "30.00", "40.00", "10.00"),
        ("1", "2020-02-01", "2020-02-28", "n/a", "n/a", "20.00"),
        ("all", None, None, "n/a", "n/a", "15.00"),
    ]
