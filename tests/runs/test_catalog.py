import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from cae import warehouse
from cae.errors import CaeError, ConfigError
from cae.home import Home
from cae.runs import catalog, outputs
from cae.warehouse import published
from tests.support import fake_outputs as fake
from tests.support.holder import warehouse_held

ROLES = Path(__file__).parents[1] / "support" / "concurrency_roles.py"


def _publish(home, run_id="r1", seed=0):
    with outputs.run(home, {"seed": seed}, run_id=run_id):
        for table, frame in fake.all_tables(seed).items():
            outputs.write_table(home, run_id, table, frame)


def test_views_have_every_column_before_any_run(tmp_path):
    expected = {
        "runs": [
            "run_id",
            "created_at",
            "finished_at",
            "config_json",
            "code_version",
            "data_version",
            "status",
            "failure_reason",
        ],
        "metrics": [
            "run_id",
            "window_id",
            "model",
            "n_factors",
            "split",
            "r2_total",
            "r2_pred",
            "n_obs",
            "sse_total",
            "sse_pred",
            "ssy",
        ],
        "factors": ["run_id", "window_id", "model", "date", "factor", "value", "lambda"],
    }
    for view, columns in expected.items():
        got = catalog.query(tmp_path, f"select * from {view}")
        assert got.columns == columns
        assert got.height == 0


def test_views_match_the_tables_read_directly(tmp_path):
    _publish(tmp_path, "r1", seed=1)
    _publish(tmp_path, "r2", seed=2)
    for table in outputs.TABLES:
        direct = outputs.read_table(tmp_path, table)
        viewed = catalog.query(tmp_path, f"select * from {table}")
        assert viewed.columns == direct.columns
        assert viewed.height == direct.height
    pooled = catalog.query(
        tmp_path,
        "select run_id, model, r2_total from metrics "
        "where window_id is null and run_id = $run order by model",
        params={"run": "r2"},
    )
    assert pooled.rows() == [("r2", "ca1", 0.1), ("r2", "pca", 0.2)]


def test_one_query_joins_outputs_and_the_published_warehouse(tmp_path):
    _publish(tmp_path)
    with warehouse.connect(tmp_path) as con:
        for ticker in fake.TICKERS[:2]:
            con.execute(
                "insert into tickers (ticker, sector, source) values (?, 'Tech', 'test')",
                [ticker],
            )
        assert published.publish(con, tmp_path).rows("tickers") == 2
    got = catalog.query(
        tmp_path,
        "select t.sector, count(*) as n from fitted as f join tickers as t using (ticker) "
        "group by t.sector",
    )
    per_ticker = fake.fitted().filter(pl.col("ticker") == fake.TICKERS[0]).height
    assert got.rows() == [("Tech", 2 * per_ticker)]


def test_without_a_warehouse_its_tables_are_absent_but_outputs_work(tmp_path):
    _publish(tmp_path)
    assert catalog.query(tmp_path, "select count(*) as n from runs")["n"].to_list() == [1]
    with pytest.raises(CaeError, match=r"query failed: .*prices.*published version"):
        catalog.query(tmp_path, "select * from prices")


def test_a_first_query_publishes_a_never_published_idle_warehouse_then_leaves_it(tmp_path):
    # A home from before publishing: its warehouse exists, no manifest.
    with warehouse.connect(tmp_path) as con:
        con.execute("insert into tickers (ticker, source) values ('AAA', 'test')")
    assert catalog.query(tmp_path, "select ticker from tickers").item() == "AAA"
    with warehouse.connect(tmp_path) as con:
        con.execute("insert into tickers (ticker, source) values ('BBB', 'test')")
        # Not shown until its writer publishes: queries never open the live file on their own.
        assert catalog.query(tmp_path, "select count(*) from tickers").item() == 1
        published.publish(con, tmp_path)
    assert catalog.query(tmp_path, "select count(*) from tickers").item() == 2


def test_a_never_published_warehouse_held_by_a_writer_is_not_waited_for(tmp_path):
    warehouse.connect(tmp_path).close()
    with warehouse_held(Home.of(tmp_path).warehouse):
        assert catalog.query(tmp_path, "select count(*) from runs").item() == 0
        assert published.read_manifest(tmp_path) is None
    assert catalog.query(tmp_path, "select count(*) as n from prices")["n"].to_list() == [0]
    assert published.read_manifest(tmp_path).version == 1


def test_live_mode_fails_clearly_while_a_writer_holds_the_warehouse(tmp_path):
    with warehouse.connect(tmp_path), pytest.raises(CaeError, match=r"cannot attach .*read-only"):
        catalog.query(tmp_path, "select 1", warehouse="live")
    assert (
        catalog.query(tmp_path, "select count(*) as n from tickers", warehouse="live").item() == 0
    )


def test_unknown_warehouse_mode_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="warehouse must be one of"):
        catalog.query(tmp_path, "select 1", warehouse="sometimes")


def test_bad_sql_is_a_one_line_cae_error(tmp_path):
    with pytest.raises(CaeError, match=r"query failed: .*no_such_table"):
        catalog.query(tmp_path, "select * from no_such_table")


def test_catalog_is_rebuilt_only_when_the_view_sql_changes(tmp_path, monkeypatch):
    first = catalog.ensure_catalog(tmp_path).stat().st_ino
    assert catalog.ensure_catalog(tmp_path).stat().st_ino == first
    monkeypatch.setattr(catalog, "_views_sha256", lambda: "changed")
    assert catalog.ensure_catalog(tmp_path).stat().st_ino != first


def test_catalog_keeps_working_after_the_home_moves(tmp_path):
    _publish(tmp_path / "a")
    catalog.query(tmp_path / "a", "select 1")
    shutil.move(tmp_path / "a", tmp_path / "b")
    assert catalog.query(tmp_path / "b", "select count(*) as n from windows").item() == 2


@pytest.mark.timeout(120)
def test_queries_during_a_writing_run_neither_fail_nor_block_it(tmp_path):
    home = tmp_path / "home"
    seconds = 4.0
    # As after a first ingest: a warehouse exists and is published.
    with warehouse.connect(home) as con:
        published.publish(con, home)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), str(ROLES.parent)])}
    procs = {
        role: subprocess.Popen(
            [sys.executable, str(ROLES), role, str(home), str(seconds), str(tmp_path / role)],
            env=env,
        )
        for role in ("writer", "reader")
    }
    for proc in procs.values():
        assert proc.wait(timeout=100) == 0
    writer = json.loads((tmp_path / "writer").read_text())
    reader = json.loads((tmp_path / "reader").read_text())
    assert writer["errors"] == []
    assert reader["errors"][:3] == []
    assert writer["iterations"] >= 2  # low bars: CI machines may be loaded
    assert reader["queries"] >= 3
    # Never a partial partition: every run's betas are all there or not there. (Tables are
    # listed one by one, so one query may see a run in metrics before its `succeeded` row.)
    assert {row["n_partial_runs"] for row in reader["rows"]} == {0}
    assert all(row["n_betas"] % 12 == 0 for row in reader["rows"])
    seen = [row["n_metrics"] for row in reader["rows"]]
    assert seen == sorted(seen)  # published runs never disappear
    final = catalog.query(home, "select count(*) as n from runs where status = 'succeeded'")
    assert final.item() == writer["iterations"]
    assert catalog.query(home, "select count(*) from ingest_batches").item() == writer["iterations"]


def test_evaluation_views_read_runs_written_before_a_column_existed(tmp_path):
    row = {
        "window_id": None,
        "model": "m",
        "asset": "market",
        "n_dates": 3,
        "mean_ret": 0.01,
        "alpha": 0.002,
        "t_alpha": 1.5,
        "alpha_pred": 0.004,
        "t_alpha_pred": 2.0,
        "r2_total": 0.9,
        "r2_pred": 0.1,
        "sse_total": 1e-4,
        "sse_pred": 9e-4,
        "ssx": 1e-3,
    }
    frame = pl.DataFrame([row], schema_overrides={"window_id": pl.Int32})
    with outputs.run(tmp_path, {}, run_id="r1"):
        outputs.write_table(tmp_path, "r1", "pricing_errors", frame)
    # An older run's file, listed first, without the predictive alpha.
    older = outputs.partition_path(tmp_path, "pricing_errors", "r0")
    older.parent.mkdir(parents=True)
    frame.drop("alpha_pred", "t_alpha_pred").write_parquet(older)
    got = catalog.query(
        tmp_path, "select run_id, alpha, alpha_pred from pricing_errors order by run_id"
    )
    assert got.rows() == [("r0", 0.002, None), ("r1", 0.002, 0.004)]


def test_long_short_summary_is_empty_and_typed_before_any_run(tmp_path):
    got = catalog.query(tmp_path, "select * from long_short_summary")
    assert got.height == 0
    assert got.columns == [
        "run_id",
        "model",
        "n_dates",
        "mean_annual",
        "volatility_annual",
        "sharpe_annual",
        "max_drawdown",
    ]
