import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from cae import warehouse
from cae.errors import CaeError, ConfigError, ValidationError
from cae.home import Home
from cae.runs import outputs, versions
from cae.runs import owners as run_owners
from tests.support import fake_outputs as fake


@dataclasses.dataclass(frozen=True)
class _Config:
    hidden: tuple[int, ...] = (32, 16)
    seed: int = 7


def _write_all(home, run_id, tables):
    for table, frame in tables.items():
        outputs.write_table(home, run_id, table, frame)


def test_succeeded_run_publishes_every_table_with_its_run_id(tmp_path):
    tables = fake.all_tables()
    with outputs.run(tmp_path, _Config()) as run_id:
        _write_all(tmp_path, run_id, tables)
    for table, frame in tables.items():
        got = outputs.read_table(tmp_path, table, run_id)
        assert got.height == frame.height
        assert got["run_id"].unique().to_list() == [run_id]
    run = outputs.read_table(tmp_path, "runs", run_id).row(0, named=True)
    assert run["status"] == "succeeded"
    assert json.loads(run["config_json"]) == {"hidden": [32, 16], "seed": 7}
    assert run["data_version"] == "no-warehouse"
    assert run["finished_at"] >= run["created_at"]


def test_partition_file_is_zstd_and_hive_partitioned(tmp_path):
    with outputs.run(tmp_path, {}) as run_id:
        outputs.write_table(tmp_path, run_id, "metrics", fake.metrics())
    path = outputs.partition_path(tmp_path, "metrics", run_id)
    assert path.parent.name == f"run_id={run_id}"
    meta = pq.ParquetFile(path).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert "run_id" not in pq.read_schema(path).names
    glob = str(tmp_path / "outputs" / "metrics" / "*" / "*.parquet")
    rel = duckdb.read_parquet(glob, hive_partitioning=True)
    assert rel.select("run_id").distinct().fetchall() == [(run_id,)]


def test_staged_tables_are_invisible_until_the_run_finishes(tmp_path):
    run_id = outputs.start_run(tmp_path, {})
    outputs.write_table(tmp_path, run_id, "betas", fake.betas())
    assert outputs.read_table(tmp_path, "betas").height == 0
    assert outputs.read_table(tmp_path, "runs", run_id)["status"].to_list() == ["running"]
    outputs.finish_run(tmp_path, run_id, "succeeded")
    assert outputs.read_table(tmp_path, "betas").height == fake.betas().height


def test_exception_mid_run_leaves_no_rows_and_marks_the_run_failed(tmp_path):
    with pytest.raises(RuntimeError, match="boom"), outputs.run(tmp_path, {}) as run_id:
        outputs.write_table(tmp_path, run_id, "windows", fake.windows())
        outputs.write_table(tmp_path, run_id, "betas", fake.betas())
        raise RuntimeError("boom")
    for table in outputs.DATA_TABLES:
        assert outputs.read_table(tmp_path, table).height == 0
    assert outputs.read_table(tmp_path, "runs")["status"].to_list() == ["failed"]
    assert not Home.of(tmp_path).staged_run(run_id).exists()


def test_a_failed_run_keeps_the_reason_in_one_line(tmp_path):
    with pytest.raises(RuntimeError), outputs.run(tmp_path, {}) as run_id:
        raise RuntimeError("boom\nsecond line")
    run = outputs.read_table(tmp_path, "runs", run_id).row(0, named=True)
    assert (run["status"], run["failure_reason"]) == ("failed", "RuntimeError: boom second line")
    with pytest.raises(KeyboardInterrupt), outputs.run(tmp_path, {}) as run_id:
        raise KeyboardInterrupt
    assert outputs.read_table(tmp_path, "runs", run_id)["failure_reason"].to_list() == [
        "interrupted by SIGINT"
    ]


def test_a_succeeded_run_has_no_failure_reason(tmp_path):
    with outputs.run(tmp_path, {}) as run_id:
        pass
    assert outputs.read_table(tmp_path, "runs", run_id)["failure_reason"].to_list() == [None]


def test_runs_written_before_failure_reason_existed_still_read(tmp_path):
    with outputs.run(tmp_path, {}, run_id="old") as run_id:
        pass
    path = outputs.partition_path(tmp_path, "runs", run_id)
    pl.read_parquet(path).drop("failure_reason").write_parquet(path)  # an older cae wrote it
    with pytest.raises(RuntimeError), outputs.run(tmp_path, {}, run_id="new"):
        raise RuntimeError("boom")
    runs = outputs.read_table(tmp_path, "runs").sort("run_id")
    assert runs.select("run_id", "failure_reason").rows() == [
        ("new", "RuntimeError: boom"),
        ("old", None),
    ]
    from cae.runs import catalog

    query = "select run_id, failure_reason from runs order by run_id"
    assert catalog.query(tmp_path, query).rows() == [("new", "RuntimeError: boom"), ("old", None)]


def test_rerun_of_a_run_id_replaces_its_rows(tmp_path):
    with outputs.run(tmp_path, {}, run_id="r1") as run_id:
        _write_all(tmp_path, run_id, fake.all_tables(seed=1))
    with outputs.run(tmp_path, {}, run_id="r1") as run_id:
        outputs.write_table(tmp_path, run_id, "betas", fake.betas(seed=2))
    betas = outputs.read_table(tmp_path, "betas")
    assert betas.height == fake.betas().height
    assert betas["beta"].to_list() == fake.betas(seed=2)["beta"].to_list()
    # Tables the second attempt did not write must not survive from the first one.
    assert outputs.read_table(tmp_path, "factors").height == 0
    assert outputs.read_table(tmp_path, "runs").height == 1


def test_failed_rerun_removes_rows_of_the_earlier_attempt(tmp_path):
    with outputs.run(tmp_path, {}, run_id="r1") as run_id:
        outputs.write_table(tmp_path, run_id, "metrics", fake.metrics())
    with pytest.raises(ValueError), outputs.run(tmp_path, {}, run_id="r1"):
        raise ValueError("retry failed")
    assert outputs.read_table(tmp_path, "metrics").height == 0
    assert outputs.read_table(tmp_path, "runs")["status"].to_list() == ["failed"]


def test_same_part_replaces_and_distinct_parts_concatenate(tmp_path):
    betas = fake.betas()
    with outputs.run(tmp_path, {}) as run_id:
        outputs.write_table(tmp_path, run_id, "metrics", fake.metrics())
        outputs.write_table(tmp_path, run_id, "metrics", fake.metrics().head(3))
        for window_id in (0, 1):
            part = betas.filter(pl.col("window_id") == window_id)
            outputs.write_table(tmp_path, run_id, "betas", part, part=f"w{window_id}")
            outputs.write_table(tmp_path, run_id, "betas", part, part=f"w{window_id}")
    assert outputs.read_table(tmp_path, "metrics").height == 3
    assert (
        outputs.read_table(tmp_path, "betas")
        .sort(betas.columns[:5])
        .drop("run_id")
        .equals(
            betas.sort(betas.columns[:5]).cast(
                outputs.read_table(tmp_path, "betas").drop("run_id").schema
            )
        )
    )


def test_killed_run_publishes_nothing_and_is_marked_failed_later(tmp_path):
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from tests.support import fake_outputs as fake
        from cae.runs import outputs
        run_id = outputs.start_run({str(tmp_path)!r}, {{}}, run_id="killed")
        outputs.write_table({str(tmp_path)!r}, run_id, "betas", fake.betas())
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    done = subprocess.run([sys.executable, "-c", script], env=env, timeout=60, check=False)
    assert done.returncode == -signal.SIGKILL
    assert outputs.read_table(tmp_path, "betas").height == 0
    assert outputs.read_table(tmp_path, "runs")["status"].to_list() == ["running"]
    assert outputs.mark_abandoned_runs(tmp_path) == ["killed"]
    runs = outputs.read_table(tmp_path, "runs")
    assert runs.select("status", "failure_reason").rows() == [("failed", "process gone")]
    assert outputs.mark_abandoned_runs(tmp_path) == []


def test_a_live_run_is_not_marked_abandoned(tmp_path):
    run_id = outputs.start_run(tmp_path, {})
    assert outputs.mark_abandoned_runs(tmp_path) == []
    assert outputs.read_table(tmp_path, "runs", run_id)["status"].to_list() == ["running"]


def test_bad_rows_name_the_table_file_row_and_rule(tmp_path):
    windows = fake.windows().with_columns(
        test_start=pl.when(pl.col("window_id") == 1)
        .then(pl.col("train_end"))
        .otherwise(pl.col("test_start"))
    )
    run_id = outputs.start_run(tmp_path, {})
    with pytest.raises(ValidationError) as error:
        outputs.write_table(tmp_path, run_id, "windows", windows)
    message = str(error.value)
    assert message.startswith("windows -> ")
    assert f"run_id={run_id}" in message and "part-all.parquet" in message
    assert "row 1: breaks train_end < test_start (got {" in message
    assert "row 1: breaks train_end < val_start <= val_end < test_start" in message


def test_missing_and_extra_columns_are_named(tmp_path):
    metrics = fake.metrics().drop("n_obs").with_columns(extra=pl.lit(1))
    run_id = outputs.start_run(tmp_path, {})
    with pytest.raises(ValidationError) as error:
        outputs.write_table(tmp_path, run_id, "metrics", metrics)
    message = str(error.value)
    assert "missing columns ['n_obs'], unexpected columns ['extra']" in message


def test_every_failing_row_and_rule_is_reported(tmp_path):
    metrics = fake.metrics().with_columns(n_factors=pl.lit(0), split=pl.lit("oos"))
    run_id = outputs.start_run(tmp_path, {})
    with pytest.raises(ValidationError) as error:
        outputs.write_table(tmp_path, run_id, "metrics", metrics)
    message = str(error.value)
    n = metrics.height
    assert (
        f"row 0: column n_factors breaks greater_than_or_equal_to(1) (got 0; {n} rows)" in message
    )
    assert (
        f"row 0: column split breaks isin(['train', 'val', 'test']) (got oos; {n} rows)" in message
    )
    assert "row 0: breaks multiple_fields_uniqueness" in message


def test_duplicate_keys_are_rejected(tmp_path):
    run_id = outputs.start_run(tmp_path, {})
    twice = pl.concat([fake.factors().head(1), fake.factors().head(1)])
    with pytest.raises(
        ValidationError, match=r"factors -> .*row 0: breaks multiple_fields_uniqueness .*2 rows"
    ):
        outputs.write_table(tmp_path, run_id, "factors", twice)


def test_frame_of_another_run_is_rejected(tmp_path):
    run_id = outputs.start_run(tmp_path, {})
    frame = fake.metrics().with_columns(run_id=pl.lit("other"))
    with pytest.raises(ConfigError, match=r"metrics frame has run_id \['other'\]"):
        outputs.write_table(tmp_path, run_id, "metrics", frame)
    outputs.write_table(tmp_path, run_id, "metrics", frame.with_columns(run_id=pl.lit(run_id)))


def test_writing_without_a_started_run_fails(tmp_path):
    with pytest.raises(CaeError, match=r"run nope is not running .* call start_run first"):
        outputs.write_table(tmp_path, "nope", "metrics", fake.metrics())
    with pytest.raises(CaeError, match="no run nope"):
        outputs.finish_run(tmp_path, "nope", "succeeded")


@pytest.mark.parametrize("bad", ["a/b", "run_id=x", "", "../up"])
def test_unsafe_run_ids_are_rejected(tmp_path, bad):
    with pytest.raises(ConfigError, match="run_id"):
        outputs.start_run(tmp_path, {}, run_id=bad)


def test_unknown_table_and_status_are_config_errors(tmp_path):
    run_id = outputs.start_run(tmp_path, {})
    with pytest.raises(ConfigError, match="unknown output table 'beta'"):
        outputs.write_table(tmp_path, run_id, "beta", fake.betas())
    with pytest.raises(ConfigError, match="status must be one of"):
        outputs.finish_run(tmp_path, run_id, "done")


def test_start_run_stores_the_data_version_of_the_writer_connection(tmp_path):
    con = warehouse.connect(tmp_path)
    run_id = outputs.start_run(tmp_path, {}, con=con)
    stored = outputs.read_table(tmp_path, "runs", run_id)["data_version"].to_list()
    assert stored == [versions.data_version(con)]


def test_a_run_id_cannot_be_started_twice_while_running(tmp_path):
    outputs.start_run(tmp_path, {}, run_id="busy")
    with pytest.raises(CaeError, match="run busy is already running in another process"):
        outputs.start_run(tmp_path, {}, run_id="busy")


def test_start_run_explains_a_locked_warehouse(tmp_path):
    con = warehouse.connect(tmp_path)
    with pytest.raises(CaeError, match="locked by a writer; pass the writer's connection"):
        outputs.start_run(tmp_path, {})
    con.close()
    run_id = outputs.start_run(tmp_path, {})
    assert outputs.read_table(tmp_path, "runs", run_id)["data_version"][0].startswith("batch-0")


def test_new_run_ids_are_unique_and_safe():
    ids = {outputs.new_run_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"r\d{8}-\d{6}-[0-9a-f]{6}", i) for i in ids)


def test_read_table_of_empty_home_has_full_schema(tmp_path):
    got = outputs.read_table(tmp_path, "fitted")
    assert got.columns == [
        "run_id",
        "window_id",
        "model",
        "date",
        "ticker",
        "ret",
        "ret_hat_total",
        "ret_hat_pred",
    ]
    assert got.height == 0


def test_finishing_a_finished_run_is_refused_and_keeps_its_rows(tmp_path):
    with outputs.run(tmp_path, {}) as run_id:
        outputs.write_table(tmp_path, run_id, "metrics", fake.metrics())
    with pytest.raises(CaeError, match="is not running \\(status succeeded\\)"):
        outputs.finish_run(tmp_path, run_id, "succeeded")
    assert outputs.read_table(tmp_path, "metrics").height == fake.metrics().height


def test_a_recycled_pid_does_not_keep_a_dead_run_alive(tmp_path):
    run_id = outputs.start_run(tmp_path, {})
    owner_file = Home.of(tmp_path).staged_run(run_id)
    owner_file /= outputs.OWNER_FILE
    owner = json.loads(owner_file.read_text())
    assert owner["pid"] == os.getpid()
    owner_file.write_text(json.dumps({**owner, "process_started": "0"}))
    assert outputs.mark_abandoned_runs(tmp_path) == [run_id]


def _exited_pid():
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return child.stdout.strip()


def test_scratch_files_of_dead_writers_go_and_live_ones_stay(tmp_path):
    live = outputs.scratch_path(tmp_path)
    live.write_bytes(b"being written")
    os.utime(live, (1, 1))  # old, but its writer lives
    host, pid, rest = live.name.split("_", 2)
    assert pid == str(os.getpid())
    dead = live.with_name("_".join((host, _exited_pid(), rest)))
    dead.write_bytes(b"half a file of a killed writer")
    dead_wal = dead.with_name(dead.name + ".wal")  # DuckDB adds to a scratch name
    dead_wal.write_bytes(b"wal")
    untagged_old = live.with_name("0123abcd.part")  # named before owner tokens
    untagged_old.write_bytes(b"x")
    os.utime(untagged_old, (1, 1))
    untagged_fresh = live.with_name("4567ef.part")
    untagged_fresh.write_bytes(b"x")
    outputs.mark_abandoned_runs(tmp_path)
    assert sorted(p.name for p in live.parent.iterdir()) == sorted([live.name, untagged_fresh.name])


def test_staging_left_by_dead_owners_goes_and_live_or_new_staging_stays(tmp_path):
    staging = Home.of(tmp_path).staging

    def staged(run_id, owner=None, age_s=0.0):
        folder = staging / f"run_id={run_id}"
        folder.mkdir(parents=True)
        if owner is not None:
            (folder / outputs.OWNER_FILE).write_text(json.dumps(owner))
        os.utime(folder, (time.time() - age_s,) * 2)
        return folder

    me = run_owners.current_owner()
    staged("dead", {**me, "pid": int(_exited_pid())})  # killed after its runs row was final
    staged("starting", me)  # start_run of a live process, before its runs row
    staged("no-owner-yet")  # start_run between mkdir and writing owner.json
    staged("no-owner-old", age_s=2 * outputs.STALE_SCRATCH_S)
    outputs.mark_abandoned_runs(tmp_path)
    assert sorted(p.name for p in staging.iterdir()) == ["run_id=no-owner-yet", "run_id=starting"]


def test_a_run_that_fails_while_publishing_is_failed_with_no_rows(tmp_path, monkeypatch):
    calls = []

    def compact_then_fail(parts, target):
        calls.append(target)
        if len(calls) == 2:
            raise OSError("disk full")
        pl.scan_parquet(parts).sink_parquet(target)

    monkeypatch.setattr(outputs, "_compact", compact_then_fail)
    with pytest.raises(OSError, match="disk full"), outputs.run(tmp_path, {}) as run_id:
        _write_all(tmp_path, run_id, fake.all_tables())
    assert all(outputs.read_table(tmp_path, t).is_empty() for t in outputs.DATA_TABLES)
    assert outputs.read_table(tmp_path, "runs")["status"].to_list() == ["failed"]
    assert not calls[0].exists()  # the table compacted before the failure is not left behind


def test_frames_as_the_evaluation_code_builds_them_are_accepted(tmp_path):
    # Int64 ids, named factors and the optional pooling sums, as cae.evaluation.evaluate returns
    # them.
    metrics = fake.metrics().with_columns(
        pl.col("window_id", "n_factors").cast(pl.Int64), sse_total=0.5, sse_pred=0.7, ssy=1.0
    )
    betas = fake.betas().with_columns(pl.col("window_id").cast(pl.Int64))
    with outputs.run(tmp_path, {}) as run_id:
        outputs.write_table(tmp_path, run_id, "metrics", metrics)
        outputs.write_table(tmp_path, run_id, "betas", betas)
    stored = outputs.read_table(tmp_path, "metrics")
    assert stored["ssy"].to_list() == [1.0] * metrics.height
    assert stored.schema["window_id"] == pl.Int32
    assert outputs.read_table(tmp_path, "betas")["factor"].unique().sort().to_list() == [
        "f1",
        "f2",
        "f3",
    ]


def test_optional_pooling_sums_may_be_left_out(tmp_path):
    with outputs.run(tmp_path, {}) as run_id:
        outputs.write_table(tmp_path, run_id, "metrics", fake.metrics())
    assert (
        outputs.read_table(tmp_path, "metrics")["sse_total"].null_count() == fake.metrics().height
    )


def test_nan_betas_are_rejected_but_nan_r2_is_kept(tmp_path):
    run_id = outputs.start_run(tmp_path, {})
    with pytest.raises(ValidationError, match=r"column beta breaks not_nullable \(got NaN"):
        outputs.write_table(tmp_path, run_id, "betas", fake.betas().with_columns(beta=float("nan")))
    # R2 is NaN when a block has no returns (sum r^2 = 0): a fact to store, not an error.
    outputs.write_table(
        tmp_path, run_id, "metrics", fake.metrics().with_columns(r2_pred=float("nan"))
    )
