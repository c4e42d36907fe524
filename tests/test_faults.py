"""Faults through the `cae` command: stop signals, kill -9, full and read-only disks, damage.

Each test runs `cae` the way a user does, in a subprocess where a signal is involved, on a small
synthetic home (tests/pipeline_fixtures.py) copied from one built once per module.
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
from pipeline_fixtures import market_prices, write_prices

from cae import cli, outputs

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
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "COLUMNS": "200",  # one error line stays one line
    }


def _start_cae(tmp_path, *args):
    log = (tmp_path / "cae.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "cae.cli", *args],
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
    return sorted(p.name for p in (outputs.outputs_dir(home) / outputs.STAGING_DIR).iterdir())


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
def test_sigterm_during_cae_run_crashes_its_flow_runs_and_stops_the_temporary_server(
    built_home, home, tmp_path
):
    source = built_home.parent / "prices.csv"
    process = _start_cae(tmp_path, "run", "--home", str(home), "--source", str(source), *SLOW_TRAIN)
    _wait_for(lambda: _running_run(home) is not None, process, "running run")
    run_id = _running_run(home)
    servers = _children(process.pid)
    assert servers, "cae run started no temporary Prefect server"
    os.kill(process.pid, signal.SIGTERM)  # as `kill PID` or a service manager does
    assert process.wait(timeout=WAIT_S) == 143
    log = _log(tmp_path)
    assert "Traceback" not in log
    assert len(_error_lines(log)) == 1
    assert "Flow run" in log and "Finished in state Crashed(" in log
    assert not [line for line in log.splitlines() if "Finished in state Running" in line]
    time.sleep(1.0)  # the server stops within the 5 s Prefect gives it at exit
    assert [pid for pid in servers if _alive(pid)] == []
    run = outputs.read_table(home, "runs", run_id).row(0, named=True)
    assert (run["status"], run["failure_reason"]) == ("failed", "interrupted by SIGTERM")
