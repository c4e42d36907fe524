from datetime import UTC, datetime

import polars as pl

from cae.runs import outputs
from cae.runs.warnings import find_warnings, run_warnings
from tests.support import fake_outputs

METRIC_COLUMNS = ["window_id", "model", "n_factors", "split", "r2_total", "r2_pred", "n_obs"]
NO_INPUTS = pl.DataFrame(
    schema={
        "window_id": pl.Int32,
        "model": pl.Utf8,
        "characteristic": pl.Utf8,
        "is_used": pl.Boolean,
        "n_fit_dates_left_out": pl.Int32,
    }
)


def _metrics(rows):
    return pl.DataFrame(rows, schema=METRIC_COLUMNS, orient="row")


def _runs(*rows):
    """Runs as (run_id, day of month, data version, status)."""
    return pl.DataFrame(
        [(r, datetime(2026, 1, d, tzinfo=UTC), v, s) for r, d, v, s in rows],
        schema=["run_id", "created_at", "data_version", "status"],
        orient="row",
    )


ONE_RUN = _runs(("r1", 1, "v1", "succeeded"))


def _inputs(window_id, model, used, left_out, n_dates):
    return [(window_id, model, c, True, n_dates) for c in used] + [
        (window_id, model, c, False, n_dates) for c in left_out
    ]


def _warnings(metrics=None, inputs=NO_INPUTS, runs=ONE_RUN):
    metrics = _metrics([]) if metrics is None else metrics
    return find_warnings("r1", metrics, inputs, runs)


def test_a_clean_run_has_no_warnings():
    metrics = _metrics(
        [
            (0, "pca", 3, "train", 0.3, 0.01, 100),
            (0, "pca", 3, "test", 0.2, 0.01, 100),
            (1, "pca", 3, "train", 0.3, 0.01, 100),
            (1, "pca", 3, "test", 0.2, 0.01, 90),
            (None, "pca", 3, "test", 0.2, 0.01, 190),
        ]
    )
    assert _warnings(metrics) == []


def test_negative_pooled_predictive_r2_names_the_models_in_percent():
    metrics = _metrics(
        [
            (0, "CA0", 3, "test", 0.2, -0.5, 100),  # a window's own row is not pooled
            (None, "CA0", 3, "test", 0.5, -0.001234, 100),
            (None, "pca", 3, "test", 0.5, 0.01, 100),
            (None, "ipca", 3, "test", 0.5, -0.02, 100),
        ]
    )
    assert _warnings(metrics) == [
        "pooled predictive R2 is negative (worse than predicting zero) for: CA0 -0.12%, ipca -2.00%"
    ]


def _train_test(window_id, model, train, test):
    return [
        (window_id, model, 3, "train", train, 0.0, 100),
        (window_id, model, 3, "val", 0.9, 0.0, 100),  # validation is not the test
        (window_id, model, 3, "test", test, 0.0, 100),
    ]


def test_test_r2_above_training_r2_names_the_models_per_window():
    metrics = _metrics(
        [
            *_train_test(0, "CA0", 0.1, 0.2),
            *_train_test(0, "pca", 0.3, 0.4),
            *_train_test(0, "ipca", 0.3, 0.2),
            *_train_test(1, "CA0", 0.3, 0.2),
            *_train_test(1, "pca", 0.1, 0.1),  # equal is not above
            *_train_test(1, "ipca", 0.3, 0.2),
            *_train_test(2, "CA0", 0.1, 0.2),
            *_train_test(2, "pca", 0.3, 0.4),
            *_train_test(2, "ipca", 0.3, 0.2),
            *_train_test(3, "CA0", 0.1, 0.2),
            *_train_test(3, "pca", 0.1, 0.2),
            *_train_test(3, "ipca", 0.1, 0.2),
        ]
    )
    assert _warnings(metrics) == [
        "windows 0, 2: test R2 above training R2 for CA0, pca",
        "window 3: test R2 above training R2 for every model",
    ]


def test_a_partial_last_test_block_is_compared_with_the_typical_block():
    rows = [(w, "pca", 3, "test", 0.1, 0.0, n) for w, n in enumerate([9900, 9800, 10000, 1986])]
    assert _warnings(_metrics(rows)) == [
        "window 3: partial last test block, 1,986 observations vs 9,900 in a typical block"
    ]
    # Half the typical block is still a block worth its R2.
    rows[-1] = (3, "pca", 3, "test", 0.1, 0.0, 4950)
    assert _warnings(_metrics(rows)) == []


def test_characteristics_left_out_are_named_with_the_reason_by_window():
    rows = [
        *_inputs(0, "ipca", ["a", "b"], ["mom12m", "beta"], 3),
        *_inputs(0, "CA0", ["a", "b"], ["mom12m", "beta"], 3),
        *_inputs(1, "ipca", ["a", "b"], ["mom12m", "beta"], 3),
        *_inputs(1, "CA0", ["a", "b"], ["mom12m", "beta"], 3),
        *_inputs(2, "ipca", ["a", "b", "mom12m"], ["beta"], 1),
        *_inputs(2, "CA0", ["a", "b", "mom12m", "beta"], [], 0),
    ]
    inputs = pl.DataFrame(rows, schema=NO_INPUTS.schema, orient="row")
    found = _warnings(inputs=inputs)
    assert len(found) == 2
    assert found[0].startswith(
        "windows 0-1: ipca, CA0 use 2 of 4 characteristics; left out mom12m, beta (constant "
        "across tickers on most training dates"
    )
    assert found[0].endswith("; 3 training dates left out of each fit")
    assert found[1].startswith("window 2: ipca use 3 of 4 characteristics; left out beta (")
    assert found[1].endswith("; 1 training date left out of each fit")


def test_no_new_data_names_the_earlier_run_of_the_same_data_version():
    runs = _runs(
        ("r0", 1, "v1", "succeeded"),
        ("rf", 2, "v1", "failed"),
        ("r1", 3, "v1", "running"),
        ("r2", 4, "v1", "succeeded"),  # later runs do not count
    )
    assert _warnings(runs=runs) == ["no new data since run r0 (data version v1)"]
    newer = _runs(("r0", 1, "v0", "succeeded"), ("r1", 3, "v1", "succeeded"))
    assert _warnings(runs=newer) == []


def test_run_warnings_reads_the_published_tables(tmp_path):
    with outputs.run(tmp_path, {"k": 1}, data_version="v1") as run_id:
        outputs.write_table(tmp_path, run_id, "metrics", fake_outputs.metrics())
    found = run_warnings(tmp_path, run_id)
    # fake_outputs: training and test R2 equal, every predictive R2 positive, blocks equal.
    assert found == []
    with outputs.run(tmp_path, {"k": 1}, data_version="v1") as second:
        outputs.write_table(tmp_path, second, "metrics", fake_outputs.metrics())
    assert run_warnings(tmp_path, second) == [f"no new data since run {run_id} (data version v1)"]
