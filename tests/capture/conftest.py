"""Recording the scan sessions' child processes (real processes, only recorded)."""

from __future__ import annotations

import psutil
import pytest

from napari_ezp2p.capture import scanner


@pytest.fixture
def scan_sessions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pid of every scan session's child process started during the test (the real
    processes, only recorded): each opens the device once and closes it as it ends."""
    from multiprocessing.context import SpawnProcess

    pids: list[int] = []
    real_start = SpawnProcess.start

    def recording_start(process: SpawnProcess) -> None:
        real_start(process)
        pids.append(process.pid)

    monkeypatch.setattr(SpawnProcess, "start", recording_start)
    return pids


def assert_closed(pids: list[int]) -> None:
    for pid in pids:  # ended and reaped: its device handle and SANE went with it
        assert not psutil.pid_exists(pid)
    assert scanner._users == 0  # nothing initialised SANE in this process meanwhile
