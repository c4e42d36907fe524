"""Faults through the `cae` command: stop signals, kill -9, full and read-only disks, damage.

Each test runs `cae` the way a user does, in a subprocess where a signal is involved, on a small
synthetic home (tests/support/pipeline_fixtures.py) copied from one built once per module.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from cae import cli
from cae.home import Home
from cae.runs import outputs
from tests.support.pipeline_fixtures import market_prices, write_prices

REPO = Path(__file__).resolve().parents[1]
WAIT_S = 60.0  # for a subprocess to reach a state; generous for a loaded 2-core machine
# CA0 on many short windows: training lasts seconds, long enough to be interrupted.
SLOW_TRAIN = ["--model", "CA0", "--seeds", "2", "--epochs", "50", "--windows", "20,5,5"]


@pytest.fixture(scope="module")
def built_home(tmp_path_factory):
    """A home with the synthetic market ingested, its panel frozen and one pca run published."""
    home = tmp_path_factory.mktemp("faults") / "home"
    source = write_prices(market_prices(), home.parent / "prices.csv")
    assert cli.main(["ingest", str(source), "--home", str(home)]) == 0
    args = ["train", "--home", str(home), "--model", "pca", "--windows", "60,15,20"]
    assert cli.main(args) == 0
    return home


@pytest.fixture
def home(built_home, tmp_path):
    copy = tmp_path / "home"
    shutil.copytree(built_home, copy)
    return copy


def _env(tmp_path):
    inherited = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return {
        **inherited,  # without a server URL: cae run starts its temporary server
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "COLUMNS": "200",  # one error line stays one line
    }


def _start_cae(tmp_path, *args):
    log = (tmp_path / "cae.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "cae", *args],
        env=_env(tmp_path),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )


def _wait_for(condition, process, what):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return
        assert process.poll() is None, f"cae exited {process.returncode} before {what}"
        time.sleep(0.05)
    raise TimeoutError(f"no {what} after {WAIT_S} s")


def _running_run(home):
    """Return the id of the run marked `running`, or None."""
    running = outputs.read_table(home, "runs").filter(pl.col("status") == "running")
    return running["run_id"][0] if running.height else None


def _staging(home):
    return sorted(p.name for p in Home.of(home).staging.iterdir())


def _log(tmp_path):
    return (tmp_path / "cae.log").read_text()


def _error_lines(text):
    return [line for line in text.splitlines() if line.startswith("error:")]


def _published_rows(home, run_id):
    return {t: outputs.read_table(home, t, run_id).height for t in outputs.DATA_TABLES}


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _children(pid):
    tasks = Path(f"/proc/{pid}/task").glob("*/children")
    return [int(child) for task in tasks for child in task.read_text().split()]


# --- stop signals -------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_during_cae_train_fails_the_run_with_its_reason(home, tmp_path, sig):
    process = _start_cae(tmp_path, "train", "--home", str(home), *SLOW_TRAIN)
    _wait_for(lambda: _running_run(home) is not None, process, "running run")
    run_id = _running_run(home)
    os.killpg(process.pid, sig)  # Ctrl-C reaches the whole foreground group
    assert process.wait(timeout=WAIT_S) == 128 + sig
    log = _log(tmp_path)
    assert "Traceback" not in log
    name = signal.Signals(sig).name
    assert _error_lines(log) == [
        f"error: interrupted by {name}: stopped; the warehouse keeps its last committed state "
        "and a run in progress is marked failed"
    ]
    run = outputs.read_table(home, "runs", run_id).row(0, named=True)
    assert (run["status"], run["failure_reason"]) == ("failed", f"interrupted by {name}")
    assert set(_published_rows(home, run_id).values()) == {0}
    assert _staging(home) == []


@pytest.mark.timeout(120)
def _sigterm_a_cae_run(built_home, tmp_path):
    """Start `cae run` on a copy of the built home, SIGTERM it while it trains; return all."""
    home = tmp_path / "home"
    if not home.exists():
        shutil.copytree(built_home, home)
    source = built_home.parent / "prices.csv"
    process = _start_cae(tmp_path, "run", "--home", str(home), "--source", str(source), *SLOW_TRAIN)
    _wait_for(lambda: _running_run(home) is not None, process, "running run")
    run_id = _running_run(home)
    servers = _children(process.pid)
    assert servers, "cae run started no temporary Prefect server"
    os.kill(process.pid, signal.SIGTERM)  # as `kill PID` or a service manager does
    return home, run_id, servers, process.wait(timeout=WAIT_S), _log(tmp_path)


def _swallowed_by_a_finalizer(code: int, log: str) -> bool:
    # Inside a flow Prefect's handler raises TerminationSignal; when the signal lands while the
    # garbage collector runs a finalizer, Python prints "Exception ignored" and drops it, and
    # the run goes on to finish (seen once in a loaded CI run). A known race of signal handlers
    # that raise, not of cae: try once more.
    return code == 0 and "Exception ignored" in log and "TerminationSignal" in log


def test_sigterm_during_cae_run_crashes_its_flow_runs_and_stops_the_temporary_server(
    built_home, tmp_path
):
    home, run_id, servers, code, log = _sigterm_a_cae_run(built_home, tmp_path / "first")
    if _swallowed_by_a_finalizer(code, log):
        home, run_id, servers, code, log = _sigterm_a_cae_run(built_home, tmp_path / "again")
    assert code == 143
    assert "Traceback" not in log
    assert len(_error_lines(log)) == 1
    assert "Flow run" in log and "Finished in state Crashed(" in log
    assert not [line for line in log.splitlines() if "Finished in state Running" in line]
    # The server stops within the 5 s Prefect gives it at exit (longer on a loaded machine).
    deadline = time.monotonic() + WAIT_S
    while [pid for pid in servers if _alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [pid for pid in servers if _alive(pid)] == []
    run = outputs.read_table(home, "runs", run_id).row(0, named=True)
    assert (run["status"], run["failure_reason"]) == ("failed", "interrupted by SIGTERM")


# --- kill -9 ------------------------------------------------------------------------------------

# Runs `cae` with one library function wrapped: when a call matches `condition`, the process
# says so (the file $CAE_TEST_READY) and waits, before or after the real call, to be killed.
PAUSING_CAE = """
import os, sys, time
from pathlib import Path
import {module} as target
from cae import cli

real = target.{name}

def pause():
    Path(os.environ["CAE_TEST_READY"]).touch()
    time.sleep(600)

def pausing(*args, **kwargs):
    if {condition} and "{when}" == "before":
        pause()
    result = real(*args, **kwargs)
    if {condition} and "{when}" == "after":
        pause()
    return result

target.{name} = pausing
sys.exit(cli.main(sys.argv[1:]))
"""


def _start_paused_cae(tmp_path, pause, *args):
    script = tmp_path / "pausing_cae.py"
    script.write_text(PAUSING_CAE.format(**pause))
    ready = tmp_path / "ready"
    log = (tmp_path / "cae.log").open("w")
    process = subprocess.Popen(
        [sys.executable, str(script), *args],
        env={**_env(tmp_path), "CAE_TEST_READY": str(ready)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    _wait_for(ready.exists, process, "the pause point")
    return process


def _kill9(process):
    process.kill()
    assert process.wait(timeout=WAIT_S) == -signal.SIGKILL


def _warehouse_state(home):
    """Row counts and a content hash of every table the ingest writes (read-only)."""
    from cae import warehouse

    with warehouse.connect(home, read_only=True) as con:
        return {
            table: con.execute(
                f"select count(*), coalesce(sum(hash(columns(*))), 0) from {table}"
            ).fetchall()
            for table in ("prices", "ingest_batches", "rejected_rows", "tickers")
        }


@pytest.mark.parametrize(
    ("sig", "status"),
    [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGTERM, 143)],
    ids=["SIGKILL", "SIGTERM"],
)
def test_a_kill_inside_an_ingest_leaves_the_last_committed_warehouse(home, tmp_path, sig, status):
    before = _warehouse_state(home)
    later = market_prices().with_columns(pl.col("ticker") + "X")  # all new rows
    source = write_prices(later, tmp_path / "big.csv")
    # Paused after the new rows went into the open transaction, before its commit.
    pause = {
        "module": "cae.warehouse.ingest",
        "name": "run_sql",
        "when": "after",
        "condition": "args[1] == 'prices#insert_new'",
    }
    process = _start_paused_cae(tmp_path, pause, "ingest", str(source), "--home", str(home))
    process.send_signal(sig)
    assert process.wait(timeout=WAIT_S) == status
    assert "Traceback" not in _log(tmp_path)
    assert _warehouse_state(home) == before
    # The next command works, and the same file then loads in full.
    assert cli.main(["ingest", str(source), "--home", str(home)]) == 0
    after = _warehouse_state(home)
    assert after["prices"][0][0] == before["prices"][0][0] + later.height


def test_a_duckdb_query_stopped_by_a_signal_is_one_line_and_other_errors_keep_theirs(
    home, capsys, monkeypatch
):
    # When a signal stops a running DuckDB query, DuckDB drops the exception the handler raised
    # and raises RuntimeError("Query interrupted"); inside a flow the handler was Prefect's.
    from cae.runs import catalog

    def stopped_query(*args, **kwargs):
        raise RuntimeError("Query interrupted")

    monkeypatch.setattr(catalog, "query", stopped_query)
    assert cli.main(["sql", "select 1", "--home", str(home)]) == 143
    assert _one_error_line(capsys).startswith("error: interrupted by SIGTERM: stopped;")

    def buggy_query(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(catalog, "query", buggy_query)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["sql", "select 1", "--home", str(home)])


def test_kill_9_while_publishing_leaves_no_half_published_run(home, tmp_path, capsys):
    published_before = {t: outputs.read_table(home, t) for t in outputs.TABLES}
    # Paused in the middle of the renames: some tables of the run are in place, the rest wait
    # as compacted scratch files in outputs/.tmp, and the runs row still says `running`.
    pause = {
        "module": "cae.runs.outputs",
        "name": "partition_path",
        "when": "before",
        "condition": "args[1] == 'fitted' and sys._getframe(1).f_code.co_name == '_publish_staged'",
    }
    args = ["train", "--home", str(home), "--model", "pca", "--windows", "60,20,20"]
    process = _start_paused_cae(tmp_path, pause, *args)
    run_id = _running_run(home)
    scratch = Home.of(home).scratch
    assert list(scratch.iterdir()), "the pause point should leave compacted tables in .tmp"
    _kill9(process)
    half = _published_rows(home, run_id)
    assert half["windows"] > 0 and half["fitted"] == 0  # killed half-way through the renames
    succeeded = outputs.read_table(home, "runs").filter(pl.col("status") == "succeeded")
    assert run_id not in succeeded["run_id"].to_list()  # readers of succeeded runs see none
    # The next command that opens the home marks the run failed and removes its debris.
    assert cli.main(["status", "--home", str(home)]) == 0
    run = outputs.read_table(home, "runs", run_id).row(0, named=True)
    assert (run["status"], run["failure_reason"]) == ("failed", "process gone")
    assert set(_published_rows(home, run_id).values()) == {0}
    assert list(scratch.iterdir()) == []
    assert _staging(home) == []
    for table, frame in published_before.items():
        assert outputs.read_table(home, table).filter(pl.col("run_id") != run_id).equals(frame)


# --- broken homes -------------------------------------------------------------------------------


def _one_error_line(capsys):
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = _error_lines(captured.err)
    assert len(lines) == 1, captured.err
    return lines[0]


@pytest.mark.parametrize("where", ["proc", "under_a_file"])
def test_a_home_that_cannot_be_created_is_one_line(tmp_path, capsys, where):
    (tmp_path / "a_file").write_text("not a folder")
    folder = {"proc": Path("/proc/cae-home"), "under_a_file": tmp_path / "a_file" / "home"}[where]
    assert cli.main(["status", "--home", str(folder)]) == 1
    line = _one_error_line(capsys)
    assert line.startswith(f"error: cannot create the home folder {folder}: ")
    assert not folder.exists()


@pytest.fixture
def read_only_home(built_home, tmp_path):
    """A copy of the built home on a read-only path: a read-only bind mount, or chmod -w.

    chmod does not stop root, and a bind mount needs root: each user gets the one that works.
    """
    source = tmp_path / "source"
    shutil.copytree(built_home, source)
    if os.geteuid() != 0:
        for path in [source, *source.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        yield source
        for path in [source, *source.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        return
    mounted = tmp_path / "read_only"
    mounted.mkdir()
    done = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(source), str(mounted)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"running as root without the right to mount: {done.stderr.decode()}")
    try:
        yield mounted
    finally:
        subprocess.run(["umount", str(mounted)], check=True)


def test_sql_reads_a_read_only_home(read_only_home, capsys):
    query = "select count(*) from prices"
    assert cli.main(["sql", query, "--home", str(read_only_home)]) == 0
    assert capsys.readouterr().out.strip() == str(market_prices().height)


def test_sql_on_a_read_only_home_without_a_catalog_is_one_line(read_only_home, tmp_path, capsys):
    bare = read_only_home.parent / "source"
    if os.geteuid() == 0:  # the mount shows the source; remove the catalog underneath it
        (bare / "outputs" / "catalog.duckdb").unlink()
    else:
        pytest.skip("the catalog of a chmod -w home cannot be removed by its owner either")
    assert cli.main(["sql", "select 1", "--home", str(read_only_home)]) == 1
    line = _one_error_line(capsys)
    assert line.startswith("error: cannot write to the home folder (")
    assert str(read_only_home) in line


def test_build_panel_on_a_read_only_home_is_one_line(read_only_home, capsys):
    assert cli.main(["build-panel", "--home", str(read_only_home)]) == 1
    line = _one_error_line(capsys)
    warehouse_file = read_only_home / "warehouse.duckdb"
    assert line.startswith(f"error: cannot write to the home folder ({warehouse_file}): ")


def _full_disk_in_the_load(monkeypatch, kind):
    """Make the ingest's insert fail as on a full disk, inside its transaction."""
    import errno

    from cae.warehouse import ingest

    real = ingest.run_sql

    def failing(con, name, params=None):
        if name == "prices#insert_new":
            if kind == "duckdb":  # a real DuckDB write error: /dev/full is always full
                con.execute("copy (select 1 as a) to '/dev/full' (format csv)")
            raise OSError(errno.ENOSPC, "No space left on device", "/home/warehouse.duckdb")
        return real(con, name, params)

    monkeypatch.setattr(ingest, "run_sql", failing)


@pytest.mark.parametrize("kind", ["duckdb", "oserror"])
def test_a_full_disk_during_an_ingest_says_so_and_keeps_the_warehouse(
    home, tmp_path, capsys, monkeypatch, kind
):
    before = _warehouse_state(home)
    source = write_prices(market_prices().with_columns(pl.col("ticker") + "X"), tmp_path / "n.csv")
    _full_disk_in_the_load(monkeypatch, kind)
    assert cli.main(["ingest", str(source), "--home", str(home)]) == 1
    line = _one_error_line(capsys)
    where = "/dev/full" if kind == "duckdb" else "/home/warehouse.duckdb"
    assert line.startswith(f"error: no space left on device ({where}): ")
    assert "transaction" not in line
    assert _warehouse_state(home) == before


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs, mounted for the test (needs root and the right to mount)."""
    mounted = tmp_path / "small_disk"
    mounted.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mounted)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mounted
    finally:
        subprocess.run(["umount", str(mounted)], check=True)


def test_a_really_full_disk_during_an_ingest_says_so_and_keeps_the_warehouse(
    small_disk, tmp_path, capsys
):
    home = small_disk / "home"
    first = write_prices(market_prices().head(100), tmp_path / "first.csv")
    assert cli.main(["ingest", str(first), "--home", str(home)]) == 0
    before = _warehouse_state(home)
    n = 300_000  # about 10 MB of CSV, prices that do not compress: more than the disk holds
    big = pl.DataFrame({"i": range(n)}).select(
        ("T" + (pl.col("i") % 500).cast(pl.Utf8)).alias("ticker"),
        (pl.date(1990, 1, 1) + pl.duration(days=pl.col("i") // 500)).alias("date"),
        (1.0 + (pl.col("i").hash(seed=1) % 10_000_000).cast(pl.Float64) / 100).alias("close"),
    )
    source = write_prices(big, tmp_path / "big.csv")
    capsys.readouterr()
    assert cli.main(["ingest", str(source), "--home", str(home)]) == 1
    line = _one_error_line(capsys)
    assert line.startswith(f"error: no space left on device ({home / 'warehouse.duckdb'}): ")
    assert _warehouse_state(home) == before


def _cut_in_half(path):
    os.truncate(path, path.stat().st_size // 2)


@pytest.mark.parametrize("command", [["status"], ["ingest", "sample"], ["build-panel"]])
def test_a_truncated_warehouse_is_one_line_naming_it(home, capsys, command):
    warehouse_file = home / "warehouse.duckdb"
    _cut_in_half(warehouse_file)
    assert cli.main([*command, "--home", str(home)]) == 1
    line = _one_error_line(capsys)
    assert line.startswith(f"error: the warehouse file {warehouse_file} is damaged (")
    assert "restore it from a backup, or move it aside" in line


def test_cae_run_on_a_truncated_warehouse_is_one_line(built_home, home, tmp_path):
    _cut_in_half(home / "warehouse.duckdb")
    source = built_home.parent / "prices.csv"
    process = _start_cae(tmp_path, "run", "--home", str(home), "--source", str(source))
    assert process.wait(timeout=WAIT_S) == 1
    log = _log(tmp_path)
    assert "Traceback" not in log
    assert _error_lines(log) == [line for line in log.splitlines() if "damaged" in line]
    assert len(_error_lines(log)) == 1


@pytest.mark.parametrize("when", ["before", "after"], ids=["files_written", "manifest_swapped"])
def test_kill_9_while_publishing_the_warehouse_leaves_one_whole_version(home, tmp_path, when):
    from cae import warehouse
    from cae.runs import catalog
    from cae.warehouse import published

    before = published.read_manifest(home)
    later = market_prices().with_columns(pl.col("ticker") + "X")  # all new rows
    source = write_prices(later, tmp_path / "more.csv")
    # Killed with the new version's files written, before or after its manifest is swapped in.
    pause = {
        "module": "cae.warehouse.published",
        "name": "_swap_manifest",
        "when": when,
        "condition": "True",
    }
    process = _start_paused_cae(tmp_path, pause, "ingest", str(source), "--home", str(home))
    _kill9(process)
    shown = published.read_manifest(home)
    assert shown.version == before.version + (when == "after")
    expected = before.rows("prices") + (later.height if when == "after" else 0)
    assert catalog.query(home, "select count(*) from prices").item() == expected
    # The next command publishes what the killed one committed and removes its leftovers.
    assert cli.main(["ingest", str(source), "--home", str(home)]) == 0
    now = published.read_manifest(home)
    with warehouse.connect(home, read_only=True) as con:
        stored = con.sql("select count(*) from prices").fetchall()[0][0]
    assert now.rows("prices") == stored == before.rows("prices") + later.height
    folder = Home.of(home).published
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet")}
    listed = {p for table in now.tables for p in now.files(table)}
    assert listed <= on_disk <= listed | {r["path"] for r in now.retired}
