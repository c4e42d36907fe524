import json
import subprocess
import sys

from cae.runs import owners as run_owners


def _owner_file(tmp_path, owner):
    path = tmp_path / "owner.json"
    path.write_text(json.dumps(owner))
    return path


def test_the_calling_process_owns_a_live_run(tmp_path):
    assert not run_owners.is_abandoned(_owner_file(tmp_path, run_owners.current_owner()))


def test_an_exited_process_has_abandoned_its_run(tmp_path):
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    owner = {**run_owners.current_owner(), "pid": int(child.stdout)}
    assert run_owners.is_abandoned(_owner_file(tmp_path, owner))


def test_missing_or_corrupt_owner_files_mean_abandoned(tmp_path):
    assert run_owners.is_abandoned(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    assert run_owners.is_abandoned(tmp_path / "bad.json")


def test_runs_of_other_hosts_are_never_judged_here(tmp_path):
    owner = {"pid": 1, "process_started": "0", "host": "some-other-host"}
    assert not run_owners.is_abandoned(_owner_file(tmp_path, owner))


def test_owner_tokens_in_file_names_tell_live_dead_and_foreign_writers():
    host, pid, started = run_owners.owner_token().split("_")
    assert run_owners.token_is_abandoned(f"{host}_{pid}_{started}_abc.part") is False
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = f"{host}_{int(child.stdout)}_{started}_abc.part"
    assert run_owners.token_is_abandoned(dead) is True
    assert run_owners.token_is_abandoned(f"0000ffff_{pid}_{started}_abc.part") is False
    assert run_owners.token_is_abandoned("3f2a9c.part") is None
