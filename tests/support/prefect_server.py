"""A real Prefect server in a subprocess, and the environment that points our processes at it.

The browser and `cae serve` tests need what ephemeral mode cannot give: a server that outlives
one process and serves the UI. Closed-network settings as in the Makefile.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

BOOT_TIMEOUT_S = 120.0  # measured 9-18 s on 2 cores; a first boot runs the migrations
STOP_TIMEOUT_S = 20.0  # uvicorn drains within a second or two after SIGTERM
SCHEDULER_LOOP_S = 2  # the serve test waits for scheduled runs; the default loop is 60 s
DRAIN_TIMEOUT_S = 30.0  # queued logs and events reach a local server in well under a second
REPO = Path(__file__).resolve().parents[2]

CAE_CLI = (sys.executable, "-m", "cae")


@dataclass(frozen=True)
class PrefectServer:
    """A running server: its base URL (UI), API URL, home and log file."""

    url: str
    api_url: str
    home: Path
    log: Path

    def env(self, **extra: str) -> dict[str, str]:
        """Return an environment for a client process talking to this server."""
        return prefect_env(self.home, PREFECT_API_URL=self.api_url, **extra)


def prefect_env(home: Path, **extra: str) -> dict[str, str]:
    """Return os.environ with a private Prefect home, analytics off and this repo importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p),
    )
    env.update(extra)
    return env


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(api_url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Block until `GET /health` answers, or raise with the server's log if it dies or stalls."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prefect server exited {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise TimeoutError(f"prefect server not healthy after {timeout} s:\n{log.read_text()}")


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S):
    """Signal the process group `process` leads, wait, kill it if it hangs; return the code."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)
    return process.returncode


@contextlib.contextmanager
def talking_to(server: PrefectServer):
    """Point this process's Prefect at `server`; send its queued logs and events before leaving.

    Undrained, they are retried at interpreter exit against a server already stopped (~70 s).
    """
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        try:
            yield
        finally:
            APILogWorker.drain_all(timeout=DRAIN_TIMEOUT_S, at_exit=False)
            EventsWorker.drain_all(timeout=DRAIN_TIMEOUT_S, at_exit=False)


@contextlib.contextmanager
def running_server(workdir: Path):
    """Start `prefect server start` on a free port under `workdir`; stop it on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    home = workdir / "prefect_home"
    home.mkdir(parents=True, exist_ok=True)
    log = workdir / "server.log"
    env = prefect_env(
        home,
        # The UI's own calls go to this URL; by default it would be port 4200.
        PREFECT_UI_API_URL=f"{url}/api",
        # The browser test walks the V1 UI's pages; no marketing banners over them.
        PREFECT_SERVER_UI_V2_ENABLED="false",
        PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT="false",
        # Schedule a new deployment's runs within seconds, not the default minute.
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS=str(SCHEDULER_LOOP_S),
    )
    command = [sys.executable, "-m", "prefect", "server", "start"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("w") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_healthy(f"{url}/api", process, log, BOOT_TIMEOUT_S)
        yield PrefectServer(url=url, api_url=f"{url}/api", home=home, log=log)
    finally:
        stop(process)
