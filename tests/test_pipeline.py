import dataclasses
import json
import os
import shutil

import polars as pl
import pytest

from cae import cli, pipeline
from cae.errors import ConfigError
from cae.evaluation.long_short import PERIODS_PER_YEAR, long_short_summary
from cae.runs import outputs
from tests.support.pipeline_fixtures import SMALL, market_prices, write_prices


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    """A home with the synthetic market ingested and its daily panel frozen."""
    home = tmp_path_factory.mktemp("pipeline_home")
    source = write_prices(market_prices(), home / "in" / "prices.csv")
    report = pipeline.ingest_step(home, str(source))
    assert report.rows_rejected == 0
    return home, pipeline.panel_step(home, "daily")


def _run(home, config, panel_path):
    run_id = pipeline.start_step(home, config, panel_path)
    window_ids = pipeline.plan_step(home, run_id, config, panel_path)
    trained = [pipeline.train_window_step(home, run_id, config, panel_path, w) for w in window_ids]
    return (
        run_id,
        window_ids,
        trained,
        pipeline.publish_step(home, run_id, config, panel_path, window_ids),
    )


def test_unknown_model_is_a_config_error_naming_it():
    config = dataclasses.replace(SMALL, models=("CA9",))
    with pytest.raises(ConfigError, match=r"unknown models \['CA9'\]"):
        config.check()


def test_model_key_ignores_execution_settings_only():
    assert SMALL.model_key() == dataclasses.replace(SMALL, workers=7, threads=3).model_key()
    assert SMALL.model_key() != dataclasses.replace(SMALL, n_factors=3).model_key()


def test_panel_is_frozen_once_per_data_version(frozen):
    home, panel_path = frozen
    assert pipeline.panel_step(home, "daily") == panel_path
    summary = pipeline.panel_summary(panel_path)
    assert summary.n_tickers <= 30
    assert summary.n_dates > 100


def test_pooled_metrics_sum_errors_before_dividing():
    metrics = pl.DataFrame(
        {
            "window_id": [0, 1, 0],
            "model": ["m", "m", "m"],
            "n_factors": [2, 2, 2],
            "split": ["test", "test", "val"],
            "r2_total": [0.5, 0.0, 0.9],
            "r2_pred": [0.1, 0.0, 0.9],
            "n_obs": [10, 30, 5],
            "sse_total": [1.0, 4.0, 0.1],
            "sse_pred": [1.8, 4.0, 0.1],
            "ssy": [2.0, 4.0, 1.0],
        }
    )
    pooled = pipeline.pooled_metrics(metrics).row(0, named=True)
    assert pooled["window_id"] is None
    assert pooled["r2_total"] == pytest.approx(1 - 5.0 / 6.0)  # not the mean 0.25 of R2s
    assert pooled["r2_pred"] == pytest.approx(1 - 5.8 / 6.0)
    assert pooled["n_obs"] == 40


def test_steps_publish_every_window_and_a_pooled_row_per_model(frozen):
    home, panel_path = frozen
    run_id, window_ids, trained, published = _run(home, SMALL, panel_path)
    assert window_ids == [0, 1, 2]
    assert [t.window_id for t in trained] == window_ids
    assert published.run_id == run_id
    runs = outputs.read_table(home, "runs", run_id)
    assert runs["status"].to_list() == ["succeeded"]
    assert json.loads(runs["config_json"][0])["windows"]["n_train"] == 60
    metrics = outputs.read_table(home, "metrics", run_id)
    pooled = metrics.filter(pl.col("window_id").is_null())
    assert sorted(pooled["model"]) == ["CA0", "cross_sectional", "pca"]
    assert [r.model for r in published.pooled] == ["CA0", "pca", "cross_sectional"]
    per_window = metrics.filter(pl.col("window_id").is_not_null())
    assert per_window.height == 3 * 3 * 3  # windows x models x splits
    assert outputs.read_table(home, "windows", run_id).height == 3
    fitted = outputs.read_table(home, "fitted", run_id)
    assert fitted.select("window_id", "model", "date", "ticker").is_duplicated().sum() == 0
    assert outputs.read_table(home, "betas", run_id).is_empty()  # keep_betas=False
    inputs = outputs.read_table(home, "inputs", run_id)
    assert sorted(inputs["model"].unique()) == ["CA0", "cross_sectional"]  # pca doesn't choose
    n_chars = inputs["characteristic"].n_unique()
    for t in trained:
        window = inputs.filter(pl.col("window_id") == t.window_id)
        assert t.chars_used == {
            model: (rows["is_used"].sum(), n_chars)
            for (model,), rows in window.group_by("model", maintain_order=True)
        }


def test_a_rerun_fits_nothing_and_publishes_the_same_numbers(frozen):
    home, panel_path = frozen
    first = _run(home, SMALL, panel_path)
    second = _run(home, SMALL, panel_path)
    assert all(t.cached for t in second[2])
    assert second[3].pooled == first[3].pooled
    assert first[0] != second[0]
    for table in ("pricing_errors", "long_short", "importance"):
        rows = [outputs.read_table(home, table, run[0]).drop("run_id") for run in (first, second)]
        assert not rows[0].is_empty()
        assert rows[1].equals(rows[0]), table  # a cached window still yields its rows


def test_the_evaluation_tables_are_published_and_queryable_with_cae_sql(frozen, capsys):
    home, panel_path = frozen
    run_id = _run(home, SMALL, panel_path)[0]
    n_chars = len(pl.read_parquet(panel_path).columns) - 4  # date, ticker, ret, ret_fwd
    n_models = len(SMALL.models)

    def sql(query):
        assert cli.main(["sql", query, "--format", "json", "--home", str(home)]) == 0
        return pl.DataFrame(json.loads(capsys.readouterr().out))

    pooled = sql(
        f"select model, count(*) as n_assets, count(distinct asset) as n_distinct "
        f"from pricing_errors where run_id = '{run_id}' and window_id is null group by model"
    )
    assert pooled.height == n_models
    assert pooled["n_assets"].to_list() == [n_chars + 1] * n_models  # market + one per char
    assert pooled["n_distinct"].to_list() == [n_chars + 1] * n_models
    test_dates = outputs.read_table(home, "fitted", run_id).select("window_id", "date").unique()
    long_short = sql(
        f"select window_id, model, date from long_short where run_id = '{run_id}'"
    ).with_columns(pl.col("date").str.to_date())
    assert long_short.height == test_dates.height * n_models  # >= 2 tickers on every date
    shares = sql(
        f"select model, sum(importance) as total from importance "
        f"where run_id = '{run_id}' and window_id is null group by model order by model"
    )
    # PCA's betas ignore the characteristics: no drop, so no shares.
    assert shares.rows() == [
        ("CA0", pytest.approx(1.0)),
        ("cross_sectional", pytest.approx(1.0)),
        ("pca", None),
    ]
    summary = sql(
        f"select model, n_dates, mean_annual, volatility_annual, sharpe_annual, max_drawdown "
        f"from long_short_summary where run_id = '{run_id}' order by model"
    )
    expected = long_short_summary(
        outputs.read_table(home, "long_short", run_id), PERIODS_PER_YEAR["daily"]
    ).sort("model")
    assert summary["model"].to_list() == expected["model"].to_list()
    for column in summary.columns[1:]:
        assert summary[column].to_list() == pytest.approx(expected[column].to_list()), column


def test_each_model_reports_when_it_is_done_whether_fitted_or_cached(frozen):
    home, panel_path = frozen
    config = dataclasses.replace(SMALL, models=("pca", "ipca"))
    reported = {}
    for _ in range(2):  # the second run takes the window from the cache
        run_id = pipeline.start_step(home, config, panel_path)
        pipeline.plan_step(home, run_id, config, panel_path)
        names: list[str] = []
        done = pipeline.train_window_step(
            home, run_id, config, panel_path, 0, on_model=names.append
        )
        reported[done.cached] = names
        pipeline.fail_step(home, run_id, "only one window is needed")
    assert reported == {False: ["pca", "ipca"], True: ["pca", "ipca"]}


def test_a_failed_run_publishes_nothing(frozen):
    home, panel_path = frozen
    run_id = pipeline.start_step(home, SMALL, panel_path)
    pipeline.plan_step(home, run_id, SMALL, panel_path)
    pipeline.train_window_step(home, run_id, SMALL, panel_path, 0)
    pipeline.fail_step(home, run_id, "a test stops it")
    run = outputs.read_table(home, "runs", run_id)
    assert run.select("status", "failure_reason").rows() == [("failed", "a test stops it")]
    for table in ("windows", "fitted", "factors", "metrics"):
        assert outputs.read_table(home, table, run_id).is_empty()


def test_a_window_outside_the_plan_is_a_config_error(frozen):
    home, panel_path = frozen
    config = dataclasses.replace(SMALL, seed=99)  # a cache key no other test has filled
    run_id = pipeline.start_step(home, config, panel_path)
    with pytest.raises(ConfigError, match=r"window 7 is not in the plan \(3 windows\)"):
        pipeline.train_window_step(home, run_id, config, panel_path, 7)
    pipeline.fail_step(home, run_id, "test over")


def test_a_window_does_not_see_data_after_its_test_block(frozen, tmp_path):
    home, panel_path = frozen
    config = dataclasses.replace(SMALL, seed=5)
    frame = pl.read_parquet(panel_path)
    run_id = pipeline.start_step(home, config, panel_path)
    pipeline.plan_step(home, run_id, config, panel_path)
    test_end = outputs.read_table(home, "windows")["test_end"].sort()[0]
    first = pipeline.train_window_step(home, run_id, config, panel_path, 0)
    pipeline.fail_step(home, run_id, "test over")
    future = pl.col("date") > test_end
    # Characteristics stay in [-1, 1] (negated); returns change scale and sign.
    changes = {c: pl.col(c) * -1.0 for c in frame.columns if c not in ("date", "ticker")}
    changes |= {c: pl.col(c) * -3.0 + 0.05 for c in ("ret", "ret_fwd")}
    perturbed = frame.with_columns(
        pl.when(future).then(change).otherwise(pl.col(c)).alias(c) for c, change in changes.items()
    )
    other_path = tmp_path / "daily-perturbed.parquet"
    perturbed.write_parquet(other_path)
    # The cache key ignores the future too: window 0 keeps its key, window 1 sees the change.
    same = pipeline.window_cache_dir(home, config, str(other_path), 0)
    assert same == pipeline.window_cache_dir(home, config, panel_path, 0)
    assert pipeline.window_cache_dir(home, config, str(other_path), 1) != (
        pipeline.window_cache_dir(home, config, panel_path, 1)
    )
    shutil.rmtree(same)  # so the perturbed panel is fitted afresh
    run_id = pipeline.start_step(home, config, str(other_path))
    second = pipeline.train_window_step(home, run_id, config, str(other_path), 0)
    pipeline.fail_step(home, run_id, "test over")
    assert not second.cached
    assert second.r2_total == pytest.approx(first.r2_total, rel=1e-6)


def test_panel_step_refreshes_the_extra_frequencies(tmp_path):
    from cae import warehouse
    from cae.panel import read_panel

    write_prices(market_prices(), tmp_path / "in" / "prices.csv")
    pipeline.ingest_step(tmp_path, str(tmp_path / "in" / "prices.csv"))
    path = pipeline.panel_step(tmp_path, "daily", ("weekly",))
    assert pipeline.panel_summary(path).n_dates > 100
    with warehouse.connect(tmp_path) as con:
        weekly = read_panel(con, "weekly")["date"].n_unique()
    assert 20 <= weekly <= 40  # 150 sessions are 30 weeks


def test_old_frozen_panels_go_unless_a_running_run_reads_them(tmp_path):
    prices = market_prices()
    dates = prices["date"].unique().sort()
    older = write_prices(prices.filter(pl.col("date") < dates[-1]), tmp_path / "a" / "p.csv")
    newer = write_prices(prices, tmp_path / "b" / "p.csv")
    pipeline.ingest_step(tmp_path, str(older))
    first = pipeline.panel_step(tmp_path, "daily")
    run_id = pipeline.start_step(tmp_path, SMALL, first)

    pipeline.ingest_step(tmp_path, str(newer))
    second = pipeline.panel_step(tmp_path, "daily")
    assert second != first
    assert os.path.isfile(first), "a running run still reads the older panel"

    outputs.finish_run(tmp_path, run_id, "failed")
    assert pipeline.panel_step(tmp_path, "daily") == second
    assert not os.path.isfile(first)
    assert os.path.isfile(second)


def test_a_frozen_panel_made_from_the_last_one_equals_one_made_from_scratch(tmp_path, monkeypatch):
    from cae.panel import frozen

    prices = market_prices()
    dates = prices["date"].unique().sort()
    read = []
    real_read_panel = frozen.read_panel
    monkeypatch.setattr(
        frozen, "read_panel", lambda *a, **k: read.append(real_read_panel(*a, **k)) or read[-1]
    )
    pipeline.ingest_step(
        tmp_path, str(write_prices(prices.filter(pl.col("date") < dates[-3]), tmp_path / "0.csv"))
    )
    path = pipeline.panel_step(tmp_path, "daily")
    for i, day in enumerate(dates[-3:]):  # three daily updates, each frozen from the last
        day_file = write_prices(prices.filter(pl.col("date") == day), tmp_path / f"{i + 1}.csv")
        pipeline.ingest_step(tmp_path, str(day_file))
        path = pipeline.panel_step(tmp_path, "daily")
        assert read[-1].height < pl.read_parquet(path).height / 10  # the last dates only
    incremental = pl.read_parquet(path)
    os.remove(path)  # frozen again with no earlier file to start from
    for other in (tmp_path / "panels").glob("*.parquet"):
        os.remove(other)
    assert pl.read_parquet(pipeline.panel_step(tmp_path, "daily")).equals(incremental)
    assert read[-1].height == incremental.height


def test_window_cache_key_follows_the_fitting_code(frozen, monkeypatch):
    home, panel_path = frozen
    before = pipeline.window_cache_dir(home, SMALL, panel_path, 0)
    monkeypatch.setattr(pipeline, "fit_code_version", lambda: "another-model-code")
    assert pipeline.window_cache_dir(home, SMALL, panel_path, 0) != before


def test_the_unchanged_run_is_the_last_one_of_this_config_code_and_data(frozen, monkeypatch):
    home, panel_path = frozen
    run_id = _run(home, SMALL, panel_path)[0]
    assert pipeline.unchanged_run(home, SMALL, panel_path) == run_id
    assert pipeline.unchanged_run(home, dataclasses.replace(SMALL, seed=5), panel_path) is None
    monkeypatch.setattr(pipeline, "code_version", lambda: "0.2.0+gupgrade")
    assert pipeline.unchanged_run(home, SMALL, panel_path) is None
