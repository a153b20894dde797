"""Who owns a claim, and whether that process still runs: real processes, real pids."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from napari_ezp2p.outbox.owners import HOST, new_owner, owner_gone, pid_alive

NEVER_A_PID = 2**22 + 12345  # above any Linux pid_max default: never a live process


def test_pid_alive():
    assert pid_alive(os.getpid())
    assert not pid_alive(0)
    assert not pid_alive(NEVER_A_PID)


def test_a_child_that_has_exited_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    assert child.wait(30) == 0
    assert not pid_alive(child.pid)


def test_a_live_pid_started_at_another_time_is_a_recycled_one():
    started = psutil.Process().create_time()
    assert pid_alive(os.getpid(), started)
    assert pid_alive(os.getpid(), started + 0.5)  # psutil's start times wobble a little
    assert not pid_alive(os.getpid(), started - 3600)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc zombies are Linux")
def test_a_killed_but_unreaped_process_counts_as_ended():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        stat = Path(f"/proc/{child.pid}/stat")
        deadline = time.monotonic() + 10
        while stat.read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert not pid_alive(child.pid)
    finally:
        child.wait()


def test_owner_gone():
    owner = new_owner()
    host, pid, token = owner.rsplit(":", 2)
    assert (host, pid) == (HOST, str(os.getpid()))
    assert not owner_gone(owner)
    started = float(token.partition("-")[0])
    assert owner_gone(f"{HOST}:{os.getpid()}:{started - 3600:.2f}-abc")  # pid reused since
    assert not owner_gone(f"{HOST}:{os.getpid()}:x")  # an older claim: by pid alone
    assert owner_gone(f"{HOST}:{NEVER_A_PID}:x")
    assert not owner_gone(f"elsewhere:{NEVER_A_PID}:x")  # another host: the lease decides
    assert owner_gone("garbage")
