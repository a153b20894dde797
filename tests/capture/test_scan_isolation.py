"""Scan sessions in their own process: a child that hangs, goes silent or dies never
holds the caller, and the pages it has read are kept (real SANE test backend)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from napari_ezp2p.capture import scanning
from napari_ezp2p.capture.scan_child import HANG
from napari_ezp2p.capture.scanner import ScannerError
from napari_ezp2p.capture.scanning import scan, scan_pages
from tests.capture.conftest import assert_closed

PATTERN = {"test_picture": "Color pattern"}
SMALL = (0.0, 0.0, 40.0, 30.0)  # 78 × 59 pixels at 50 dpi


def test_a_child_hanging_after_the_page_is_killed_and_the_page_kept(
    sane_test_backend: str, scan_sessions: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HANG, "after-page")  # the child blocks for ever once it has sent
    monkeypatch.setattr(scanning, "EXIT_GRACE_S", 0.5)
    began = time.monotonic()
    image = scan(sane_test_backend, resolution_dpi=50, area_mm=SMALL, options=PATTERN)
    assert time.monotonic() - began < 10
    assert image.shape == (1, 59, 78, 1)
    assert len(scan_sessions) == 1
    assert_closed(scan_sessions)  # killed


def test_a_silent_child_keeps_the_pages_before_and_fails_as_not_responding(
    sane_test_backend: str, scan_sessions: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HANG, "after-page")  # page 2 never comes
    monkeypatch.setattr(scanning, "NO_DATA_TIMEOUT_S", 1.0)
    monkeypatch.setattr(scanning, "EXIT_GRACE_S", 0.5)
    pages = []
    began = time.monotonic()
    with pytest.raises(ScannerError, match=r"test:0 stopped responding \(no data for 1 s\)"):
        for page in scan_pages(sane_test_backend, resolution_dpi=50, area_mm=SMALL):
            pages.append(page)
    assert time.monotonic() - began < 10
    assert [page.rows for page in pages] == [59]
    assert_closed(scan_sessions)


def test_a_child_stuck_after_the_last_line_fails_soon(
    sane_test_backend: str, scan_sessions: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where libsane's test backend deadlocks: python-sane's read has all the lines.
    monkeypatch.setenv(HANG, "after-last-line")
    monkeypatch.setattr(scanning, "FINISH_TIMEOUT_S", 0.5)
    monkeypatch.setattr(scanning, "EXIT_GRACE_S", 0.5)
    began = time.monotonic()
    with pytest.raises(ScannerError, match=r"stopped responding \(no data for 0.5 s\)"):
        scan(sane_test_backend, resolution_dpi=50, area_mm=SMALL, options=PATTERN)
    assert time.monotonic() - began < 10
    assert_closed(scan_sessions)


def test_a_slow_scanner_fails_as_not_responding(
    sane_test_backend: str, scan_sessions: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test backend waits 0.2 s before each read: longer than the patience set here.
    monkeypatch.setattr(scanning, "NO_DATA_TIMEOUT_S", 0.05)
    slow = {"read_delay": True, "read_delay_duration": 200000}
    fractions: list[float] = []
    with pytest.raises(ScannerError, match=r"stopped responding \(no data for 0.05 s\)"):
        scan(
            sane_test_backend,
            resolution_dpi=50,
            area_mm=SMALL,
            options=slow,
            progress=fractions.append,
        )
    assert fractions == [0.0]  # set up, and silent while the page was expected
    assert_closed(scan_sessions)


def test_a_child_that_dies_is_a_scanner_error(sane_test_backend: str, scan_sessions: list) -> None:
    def progress(fraction: float) -> None:
        if 0 < fraction < 1 and scan_sessions:
            os.kill(scan_sessions[0], signal.SIGKILL)
            scan_sessions.append(None)  # killed once

    with pytest.raises(ScannerError, match="its scanning process ended"):
        scan(sane_test_backend, resolution_dpi=50, depth=16, options=PATTERN, progress=progress)
    assert_closed(scan_sessions[:1])


STRESS_SCANS = 60  # about 8 s on an idle machine


def test_many_scans_in_a_row_all_complete(sane_test_backend: str) -> None:
    # Grey 16-bit and colour 8-bit in turn: the mix that deadlocked libsane in-process.
    for number in range(STRESS_SCANS):
        grey = number % 2 == 0
        image = scan(
            sane_test_backend,
            resolution_dpi=50,
            mode="gray" if grey else "color",
            depth=16 if grey else 8,
            area_mm=SMALL,
            options=PATTERN,
        )
        assert image.shape == (1, 59, 78, 1 if grey else 3)
