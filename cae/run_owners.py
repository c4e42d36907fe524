"""Who owns a running run, and whether that process is still alive.

A run's staging folder holds `owner.json` with the pid, the process start time and the host.
A run is abandoned when its owner file is missing or unreadable, or when its owner was on this
host and no process with that pid and start time exists any more (a killed flow). Runs owned by
another host are never judged from here: their pid means nothing on this machine.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

__all__ = ["current_owner", "is_abandoned"]


def current_owner() -> dict[str, object]:
    """Return the owner record of the calling process."""
    return {
        "pid": os.getpid(),
        "process_started": _process_started(os.getpid()),
        "host": socket.gethostname(),
    }


def is_abandoned(owner_file: Path) -> bool:
    """Return True when the run whose `owner.json` is `owner_file` has no live owner."""
    try:
        owner = json.loads(owner_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    if owner.get("host") != socket.gethostname():
        return False
    return _process_started(owner["pid"]) != owner.get("process_started")


def _process_started(pid: int) -> str | None:
    """Return a token of when process `pid` started (None if no such process).

    On Linux it is the start time in clock ticks from /proc, which differs for a recycled pid;
    elsewhere it is only "alive", which is the best a portable check can do.
    """
    if Path("/proc/self/stat").exists():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        # Field 22 (starttime), counted after the command name, which may hold spaces or ")".
        return stat.rsplit(")", 1)[1].split()[19]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # exists, owned by someone else
    return "alive"
