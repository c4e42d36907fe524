"""Who owns a running run or a scratch file, and whether that process is still alive.

A run's staging folder holds `owner.json` with the pid, the process start time and the host; a
scratch file carries the same three in its name (`owner_token`). A run or a file is abandoned
when its owner was on this host and no process with that pid and start time exists any more (a
killed writer), or when its owner record is missing or unreadable. Owners on another host are
never judged from here: their pid means nothing on this machine.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
from pathlib import Path

__all__ = ["current_owner", "is_abandoned", "owner_token", "token_is_abandoned"]

# Separates the fields of an owner token; none of them (digits, hex, "alive") contains it.
_TOKEN_SEP = "_"


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


def owner_token() -> str:
    """Return `<host digest>_<pid>_<start>`: the calling process, in a form fit for a file name."""
    started = _process_started(os.getpid())
    return _TOKEN_SEP.join((_host_digest(socket.gethostname()), str(os.getpid()), str(started)))


def token_is_abandoned(name: str) -> bool | None:
    """Judge the owner whose `owner_token` starts the file name `name`.

    Returns True when that owner is gone, False when it lives or is on another host, and None
    when `name` holds no token (a file named some other way).
    """
    fields = name.split(_TOKEN_SEP, 3)
    if len(fields) < 4 or not fields[1].isdigit():
        return None
    host, pid, started = fields[:3]
    if host != _host_digest(socket.gethostname()):
        return False
    return str(_process_started(int(pid))) != started


@functools.cache
def _host_digest(host: str) -> str:
    # Host names may hold dots and dashes; a short digest is safe in any file name.
    return hashlib.sha256(host.encode()).hexdigest()[:8]


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
