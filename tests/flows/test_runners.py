"""The `train` flow's task runners: Dask on a local cluster gives what threads give."""

import dataclasses

import polars as pl
import pytest

from cae import pipeline
from cae.errors import ConfigError
from flows.runners import task_runner
from tests.support.pipeline_fixtures import SMALL, market_prices, write_prices
from tests.support.prefect_server import talking_to


def test_an_unknown_runner_names_the_choices():
    with pytest.raises(ConfigError, match=r"one of \('threads', 'processes', 'dask'\), not 'gpu'"):
        task_runner("gpu")


def test_dask_runs_a_local_cluster_or_joins_a_scheduler():
    pytest.importorskip("prefect_dask")
    local = task_runner("dask", workers=3)
    assert local.cluster_kwargs == {"n_workers": 3, "threads_per_worker": 1}
    assert local.address is None
    remote = task_runner("dask", address="tcp://10.0.0.5:8786")
    assert remote.address == "tcp://10.0.0.5:8786"
    assert task_runner("dask=tcp://10.0.0.5:8786").address == "tcp://10.0.0.5:8786"


def test_only_dask_takes_an_address():
    with pytest.raises(ConfigError, match="only the dask runner takes an address, not 'threads'"):
        task_runner("threads=tcp://10.0.0.5:8786")


def _not_in_this_process(*args, **kwargs):
    raise AssertionError("a window was fitted in the test process, not on a Dask worker")


def _panel(home, source):
    pipeline.ingest_step(str(home), str(source))
    return pipeline.panel_step(str(home), SMALL.freq)


@pytest.mark.slow
def test_train_on_a_local_dask_cluster_matches_threads(live_prefect_server, tmp_path, monkeypatch):
    pytest.importorskip("prefect_dask")
    from flows.train import train

    # Dask's worker processes read the server from the environment they are spawned with.
    for name, value in live_prefect_server.env().items():
        if name.startswith("PREFECT_"):
            monkeypatch.setenv(name, value)
    source = write_prices(market_prices(), tmp_path / "prices.csv")
    config = dataclasses.replace(SMALL, source=str(source))
    results = {}
    with talking_to(live_prefect_server):
        for kind in ("threads", "dask"):
            home = tmp_path / kind
            runner = task_runner(kind, workers=2)
            if kind == "dask":
                # Windows fitted in this process would now fail; Dask's spawned workers import
                # the real function, so a successful run proves the work left this process.
                monkeypatch.setattr(pipeline, "evaluate_window", _not_in_this_process)
            panel_path = _panel(home, source)
            _, window_ids, trained = train.with_options(task_runner=runner)(
                str(home), panel_path, config
            )
            fitted = pl.concat(
                pl.read_parquet(
                    pipeline.window_cache_dir(home, config, panel_path, w) / "fitted.parquet"
                )
                for w in window_ids
            )
            results[kind] = (
                window_ids,
                trained,
                fitted.sort("window_id", "model", "date", "ticker"),
            )
    threads, dask = results["threads"], results["dask"]
    assert dask[0] == threads[0] == [0, 1, 2]
    assert [t.cached for t in dask[1]] == [False, False, False]  # dask fitted, not a cache hit
    for mine, theirs in zip(dask[1], threads[1], strict=True):
        assert mine.r2_total == pytest.approx(theirs.r2_total, abs=1e-6)
    assert dask[2].height == threads[2].height > 0
    assert dask[2]["ret_hat_total"].to_list() == pytest.approx(
        threads[2]["ret_hat_total"].to_list(), abs=1e-6
    )
