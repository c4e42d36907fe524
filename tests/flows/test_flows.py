"""The flows under one Prefect test server, on a small synthetic market (tiny epochs)."""

import dataclasses
import json
import os
import re

import polars as pl
import pytest

from cae import cli, pipeline, warehouse
from cae.home import Home
from cae.runs import outputs, plots
from cae.runs.warnings import run_warnings
from tests.support.pipeline_fixtures import SMALL, market_prices, write_prices

NEW_DAYS = 5  # sessions dropped after the first run
OUR_FLOWS = ("daily", "ingest", "build_panel", "train", "publish")


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    os.environ.setdefault("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect_home")))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="module")
def landed(tmp_path_factory, prefect_server):
    """A home, its landing folder with all but the last sessions, and the first daily run."""
    from flows.daily import daily

    home = tmp_path_factory.mktemp("flows_home")
    prices = market_prices()
    dates = prices["date"].unique().sort()
    cut = dates[-NEW_DAYS]
    landing = home / "landing"
    write_prices(prices.filter(pl.col("date") < cut), landing / "a.csv")
    config = dataclasses.replace(SMALL, source=str(landing))
    first = daily(str(home), config)
    return {
        "home": home,
        "landing": landing,
        "config": config,
        "first": first,
        "later": prices.filter(pl.col("date") >= cut),
    }


def _artifact(key):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    return found


def _warehouse_state(con):
    from cae.runs.versions import data_version
    from cae.warehouse.ingest import warehouse_status

    return data_version(con.cursor()), warehouse_status(con.cursor())["prices"].to_dicts()


def _fitted_dates(home, run_id):
    return outputs.read_table(home, "fitted", run_id)["date"].n_unique()


def test_daily_publishes_a_succeeded_run_with_pooled_rows(landed):
    home, run_id = landed["home"], landed["first"].published.run_id
    assert outputs.read_table(home, "runs", run_id)["status"].to_list() == ["succeeded"]
    assert [r.model for r in landed["first"].published.pooled] == ["CA0", "pca", "cross_sectional"]
    metrics = outputs.read_table(home, "metrics", run_id)
    assert metrics.filter(pl.col("window_id").is_null()).height == 3
    # Every plot but the betas', which this config does not keep.
    assert set(landed["first"].published.plots) == set(plots.PLOTS) - {"beta_distributions"}


def test_daily_leaves_a_markdown_summary_and_a_metrics_table(landed):
    from flows.publish import METRICS_KEY, SUMMARY_KEY

    summary = _artifact(SUMMARY_KEY)
    assert any(landed["first"].published.run_id in a.data for a in summary)
    assert "Out-of-sample R2" in summary[0].data
    # Plots inline, as the UI shows them; a file:// link would be refused by the browser.
    assert "![r2_by_window](data:image/png;base64,iVBORw0KGgo" in summary[0].data
    assert "file://" not in summary[0].data
    (table,) = [
        t for t in _artifact(METRICS_KEY) if landed["first"].published.run_id in t.description
    ]
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    # The R2 table as everywhere else (r2_format): %, two decimals, family order.
    assert [r["model"] for r in rows] == ["CA0", "pca", "cross_sectional"]
    assert all(re.fullmatch(r"-?\d+\.\d\d", r["R2 total %"]) for r in rows), rows
    pca = next(r for r in landed["first"].published.pooled if r.model == "pca")
    assert rows[1]["R2 total %"] == f"{100 * pca.r2_total:.2f}"


def test_every_completed_flow_run_leaves_a_markdown_artifact(landed):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterType,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )

    completed = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=["COMPLETED"]))
    )
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=completed)
        names = {f.id: f.name for f in client.read_flows()}
        ours = [r for r in runs if names[r.flow_id] in OUR_FLOWS]
        markdown = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                type=ArtifactFilterType(any_=["markdown"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[r.id for r in ours]),
            )
        )
    assert {names[r.flow_id] for r in ours} >= set(OUR_FLOWS)
    assert {r.id for r in ours} == {a.flow_run_id for a in markdown}
    daily_runs = {r.id for r in ours if names[r.flow_id] == "daily"}
    assert any(
        a.flow_run_id in daily_runs and landed["first"].published.run_id in a.data for a in markdown
    )


def _flow_runs_tagged(client, tag):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    return client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])))


def test_flow_runs_are_named_and_tagged_with_the_run_id_and_data_version(landed):
    from prefect.client.orchestration import get_client

    run_id = landed["first"].published.run_id
    version = outputs.read_table(landed["home"], "runs", run_id)["data_version"][0]
    with get_client(sync_client=True) as client:
        by_run = {r.name: r for r in _flow_runs_tagged(client, run_id)}
        by_version = {r.name for r in _flow_runs_tagged(client, f"data:{version}")}
    assert set(by_run) == {f"{flow} {run_id}" for flow in OUR_FLOWS}
    # The data version is known once the panel is frozen: from then on every run carries it.
    assert by_version >= {f"{flow} {run_id}" for flow in ("daily", "train", "publish")}


def test_window_task_runs_are_named_by_window_and_test_dates(landed):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    run_id = landed["first"].published.run_id
    windows = outputs.read_table(landed["home"], "windows", run_id).sort("window_id")
    expected = {
        f"window {w}: test {start} to {end}"
        for w, start, end in windows.select("window_id", "test_start", "test_end").iter_rows()
    }
    train_run = FlowRunFilter(name=FlowRunFilterName(any_=[f"train {run_id}"]))
    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(flow_run_filter=train_run)
    names = {t.name for t in task_runs}
    assert len(expected) == windows.height >= 2
    assert names >= expected
    assert all(run_id in t.tags for t in task_runs if t.name in expected)


def test_the_daily_runs_log_holds_the_pooled_r2_table(landed):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterName,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # logs reach the server in batches; send what is queued
    run_id = landed["first"].published.run_id
    daily_run = FlowRunFilter(name=FlowRunFilterName(any_=[f"daily {run_id}"]))
    with get_client(sync_client=True) as client:
        (flow_run,) = client.read_flow_runs(flow_run_filter=daily_run)
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id]))
        )
    (table,) = [log.message for log in logs if "Out-of-sample R2 (%)" in log.message]
    lines = table.splitlines()
    assert lines[0] == f"Out-of-sample R2 (%), pooled over test blocks, run {run_id}"
    assert lines[1].split() == [
        "model",
        "K",
        "R2",
        "total",
        "%",
        "R2",
        "predictive",
        "%",
        "observations",
    ]
    pca = next(r for r in landed["first"].published.pooled if r.model == "pca")
    assert lines[3].split() == [
        "pca",
        "2",
        f"{100 * pca.r2_total:.2f}",
        f"{100 * pca.r2_pred:.2f}",
        f"{pca.n_obs:,}",
    ]


def test_training_leaves_a_finished_progress_artifact(landed):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterType

    kind = ArtifactFilter(type=ArtifactFilterType(any_=["progress"]))
    with get_client(sync_client=True) as client:
        progress = client.read_artifacts(artifact_filter=kind)
    assert any(
        a.data == 100.0 and landed["first"].published.run_id in a.description for a in progress
    )


def test_a_rerun_with_no_new_data_does_no_work(landed):
    from flows.daily import daily

    home = landed["home"]
    runs = outputs.read_table(home, "runs")
    again = daily(str(home), landed["config"])  # the landing folder holds nothing new
    first = landed["first"].published.run_id
    assert again.published is None and again.no_new_data_since == first
    assert again.summary.startswith(f"no new data since run {first} (data version ")
    assert outputs.read_table(home, "runs").equals(runs)  # no new run id, no new rows


def test_rerun_takes_windows_from_cache_without_duplicating_rows(landed):
    from flows.daily import daily

    home = landed["home"]
    # Another config (workers), the same data: a new run, its windows from the cache.
    again = daily(str(home), dataclasses.replace(landed["config"], workers=1))
    first = landed["first"].published.run_id
    assert again.published.run_id != first
    assert again.published.pooled == landed["first"].published.pooled
    version = outputs.read_table(home, "runs", first)["data_version"][0]
    no_new = f"no new data since run {first} (data version {version})"
    assert no_new in again.warnings and no_new not in landed["first"].warnings
    assert f"- {no_new}" in again.summary
    fitted = outputs.read_table(home, "fitted", again.published.run_id)
    keys = ["window_id", "model", "date", "ticker"]
    assert fitted.height > 0 and fitted.select(keys).is_duplicated().sum() == 0
    assert (
        fitted.height == outputs.read_table(home, "fitted", landed["first"].published.run_id).height
    )


def test_a_new_day_dropped_extends_the_outputs_by_its_dates(landed):
    from flows.daily import daily

    home, first = landed["home"], landed["first"].published.run_id
    write_prices(landed["later"], landed["landing"] / "b.csv")
    extended = daily(str(home), landed["config"])
    assert _fitted_dates(home, extended.published.run_id) == _fitted_dates(home, first) + NEW_DAYS


def test_a_failure_mid_training_publishes_nothing_and_leaves_the_warehouse(landed, monkeypatch):
    from flows.daily import daily

    home = landed["home"]
    with warehouse.connect(home, read_only=True) as con:
        before = _warehouse_state(con)
    real = pipeline.evaluate_window

    def failing(panel, window, *args, **kwargs):
        if window.window_id == 1:
            raise RuntimeError("injected failure in window 1")
        return real(panel, window, *args, **kwargs)

    monkeypatch.setattr(pipeline, "evaluate_window", failing)
    config = dataclasses.replace(landed["config"], seed=11)  # nothing cached for these settings
    with pytest.raises(RuntimeError, match="injected failure in window 1"):
        daily(str(home), config)
    runs = outputs.read_table(home, "runs").sort("created_at")
    failed = runs["run_id"][-1]
    assert runs["status"][-1] == "failed"
    for table in outputs.DATA_TABLES:
        assert outputs.read_table(home, table, failed).is_empty()
    assert not Home.of(home).staged_run(failed).exists()
    with warehouse.connect(home, read_only=True) as con:
        after = _warehouse_state(con)
    assert after == before


def test_evaluate_prints_the_latest_succeeded_run(landed, capsys):
    assert cli.main(["evaluate", "--home", str(landed["home"])]) == 0
    out = capsys.readouterr().out
    assert "cross_sectional" in out and "R2 predictive" in out


def test_an_unknown_task_runner_is_a_config_error():
    from cae.errors import ConfigError
    from flows.runners import task_runner

    with pytest.raises(ConfigError, match="task runner must be one of"):
        task_runner("cluster")
    assert type(task_runner("threads", 3)).__name__ == "ThreadPoolTaskRunner"


def test_the_daily_deployment_runs_on_weekdays_after_the_close():
    from flows.deployments import daily_deployment

    deployment = daily_deployment("/srv/cae", cron="0 19 * * 1-5", timezone="Europe/London")
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == "0 19 * * 1-5"
    assert schedule.schedule.timezone == "Europe/London"
    assert deployment.parameters == {"home": "/srv/cae", "runner": "threads"}
    assert deployment.name == "cae-daily"


def test_cae_run_shows_progress_then_the_table_warnings_and_where_to_look(
    prefect_server, tmp_path, capsys, monkeypatch
):
    import io
    import sys

    from rich.console import Console

    app = sys.modules["cae.cli.app"]  # `cae.cli.app` is also the name of the Typer app
    screen = io.StringIO()  # stderr on a terminal: the progress bar shows
    monkeypatch.setattr(app, "err_console", Console(file=screen, force_terminal=True, width=120))
    source = write_prices(market_prices(), tmp_path / "prices.csv")
    home = tmp_path / "home"
    args = ["run", "--home", str(home), "--source", str(source)]
    args += ["--model", "pca", "--model", "observable", "--windows", "60,15,20"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    (run_id,) = outputs.read_table(home, "runs")["run_id"].to_list()
    n_windows = outputs.read_table(home, "windows", run_id).height
    # The bar's last frame: every window x model done.
    assert f"{2 * n_windows}/{2 * n_windows}" in screen.getvalue()
    lines = out.splitlines()
    title = f"Out-of-sample R2 (%), pooled over test blocks, run {run_id}"
    assert title in lines
    header = lines[lines.index(title) + 1]
    assert header.split() == [
        "model",
        "K",
        "R2",
        "total",
        "%",
        "R2",
        "predictive",
        "%",
        "observations",
    ]
    pooled = outputs.read_table(home, "metrics", run_id).filter(pl.col("window_id").is_null())
    for model, r2_total, r2_pred in pooled.select("model", "r2_total", "r2_pred").iter_rows():
        row = next(line.split() for line in lines if line.split()[:1] == [model])
        assert row[2:4] == [f"{100 * r2_total:.2f}", f"{100 * r2_pred:.2f}"]
    expected = [f"warning: {w}" for w in run_warnings(home, run_id)]
    assert expected and [line for line in lines if line.startswith("warning: ")] == expected
    assert f"report: `cae report` writes {Home.of(home).report(run_id)}" in lines
    assert f"plots: {Home.of(home).plots(run_id)}" in lines
    (ui,) = [line for line in lines if line.startswith("Prefect UI: ")]
    assert re.fullmatch(r"Prefect UI: http://\S+/flow-run/[0-9a-f-]{36}", ui)
    # The same run again, the same file: nothing new, so no new run.
    assert cli.main(args) == 0
    again = capsys.readouterr().out
    assert f"no new data since run {run_id} (data version " in again
    assert f"its results: cae report {run_id}" in again
    assert outputs.read_table(home, "runs")["run_id"].to_list() == [run_id]


def test_bad_window_sizes_are_a_one_line_error(capsys):
    assert cli.main(["train", "--windows", "60,15"]) == 1
    assert "--windows takes TRAIN,VAL,TEST periods, got '60,15'" in capsys.readouterr().err


def test_cae_train_without_prefect_trains_every_window_then_prints_the_table(landed, capsys):
    args = ["train", "--home", str(landed["home"]), "--windows", "60,15,20"]
    args += ["--model", "CA0", "--model", "pca", "--model", "cross_sectional"]
    args += ["--epochs", "2", "--seeds", "1", "--factors", "2"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "window 2 trained" in out  # keeps betas, unlike the flows' config: a new cache key
    # The constant, then one factor per characteristic not left out as collinear.
    n_factors = int(re.search(r"cross_sectional\s+(\d+)\s", out).group(1))
    runs = outputs.read_table(landed["home"], "runs").sort("created_at")
    inputs = outputs.read_table(landed["home"], "inputs", runs["run_id"][-1])
    used = inputs.filter(model="cross_sectional", window_id=0)["is_used"]
    assert n_factors == 1 + used.sum() and 2 <= n_factors < 1 + used.len()
