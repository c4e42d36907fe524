"""`cae serve` against a live Prefect server registers the scheduled `daily` deployment."""

import signal
import subprocess
import time
from zoneinfo import ZoneInfo

import pytest

from tests.support.prefect_server import CAE_CLI, stop

pytestmark = pytest.mark.slow

REGISTER_TIMEOUT_S = 120.0  # `cae serve` imports torch and Prefect, then registers: ~10 s here
CRON = "15 19 * * 1-5"
TIMEZONE = "Europe/London"
SCHEDULE_TIMEOUT_S = 60.0  # the test server's scheduler loops every 2 s
SERVING = "Your deployments are being served"


def _deployment(api_url):
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        with get_client(sync_client=True) as client:
            try:
                return client.read_deployment_by_name("daily/cae-daily")
            except ObjectNotFound:
                return None


def _scheduled_runs(api_url, deployment_id):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    only = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    deadline = time.monotonic() + SCHEDULE_TIMEOUT_S
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                runs = client.read_flow_runs(deployment_filter=only)
                if runs:
                    return runs
                time.sleep(1)
    raise TimeoutError(f"the scheduler made no run of deployment {deployment_id}")


def _wait_for_deployment(api_url, serving, log):
    deadline = time.monotonic() + REGISTER_TIMEOUT_S
    while time.monotonic() < deadline:
        assert serving.poll() is None, f"cae serve exited {serving.returncode}:\n{log.read_text()}"
        # Serving starts after registration; a Ctrl-C in between would have nothing to pause.
        if SERVING in log.read_text():
            deployment = _deployment(api_url)
            assert deployment is not None, "served, but no daily/cae-daily deployment"
            return deployment
        time.sleep(1)
    raise TimeoutError(f"cae serve not serving after {REGISTER_TIMEOUT_S} s:\n{log.read_text()}")


def test_cae_serve_registers_the_daily_schedule_and_pauses_it_on_ctrl_c(
    live_prefect_server, tmp_path
):
    home = tmp_path / "home"
    log = tmp_path / "serve.log"
    args = ["serve", "--home", str(home), "--cron", CRON, "--timezone", TIMEZONE]
    with log.open("w") as out:
        serving = subprocess.Popen(
            [*CAE_CLI, *args],
            env=live_prefect_server.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deployment = _wait_for_deployment(live_prefect_server.api_url, serving, log)
        scheduled = _scheduled_runs(live_prefect_server.api_url, deployment.id)
    finally:
        code = stop(serving, signal.SIGINT)
    (schedule,) = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == (CRON, TIMEZONE)
    assert schedule.active
    assert deployment.parameters == {"home": str(home.resolve()), "runner": "threads"}
    assert code == 0, log.read_text()
    # The server's scheduler turned the cron into runs at 19:15 London time on weekdays.
    local = [run.expected_start_time.astimezone(ZoneInfo(TIMEZONE)) for run in scheduled]
    assert {(t.hour, t.minute) for t in local} == {(19, 15)}
    assert all(t.weekday() < 5 for t in local)
    assert all(run.state.is_scheduled() for run in scheduled)
    # Ctrl-C pauses the served deployment: no scheduled run waits on a process that is gone.
    assert not deployment.paused and _deployment(live_prefect_server.api_url).paused
    assert "All deployments have been paused!" in log.read_text()
