"""Who owns a claim: ``host:pid:started-token``, and whether that process is gone.

``started`` is the owner process's start (psutil's create time, seconds since the
epoch), so that a pid the system gave to a new process since does not pass for the
owner. Claims written before it was recorded (``host:pid:token``) are checked by pid
alone.
"""

from __future__ import annotations

import os
import socket
import uuid

import psutil

HOST = socket.gethostname()
#: psutil derives a start time from the boot time, which the clock's adjustments move by
#: up to about a second; a pid recycled as quickly as that is not a real case.
_START_TOLERANCE = 1.0


def new_owner() -> str:
    """A fresh owner for a claim of this process."""
    started = psutil.Process().create_time()
    return f"{HOST}:{os.getpid()}:{started:.2f}-{uuid.uuid4().hex[:12]}"


def owner_gone(owner: str) -> bool:
    """Whether the process that claimed a row, on this host, has ended."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return True  # not a claim this version wrote: nobody can finish it
    host, pid, token = parts[0], int(parts[1]), parts[2]
    if host != HOST:
        return False  # cannot tell; the stale_after lease decides
    started, separator, _ = token.partition("-")
    try:
        start = float(started) if separator else None
    except ValueError:
        start = None
    return not pid_alive(pid, start)


def pid_alive(pid: int, started: float | None = None) -> bool:
    """Whether process ``pid`` runs on this machine (a zombie counts as ended), and,
    given ``started``, is the process that started then (not a recycled pid)."""
    if pid <= 0 or not psutil.pid_exists(pid):
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(process.create_time() - started) <= _START_TOLERANCE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # exists, owned by someone else
