"""Scanning with the real SANE ``test`` backend (see conftest.py): no mocks of SANE."""

from __future__ import annotations

import dataclasses
import multiprocessing
import signal
import socket
import sys
from datetime import datetime

import numpy as np
import pydicom
import pytest

from napari_ezp2p.capture import scanner
from napari_ezp2p.capture.scanner import ScannerError, list_scanners, sane_session, scanner_options
from napari_ezp2p.capture.scanning import scan, scan_pages
from napari_ezp2p.core.convert import write_atomically
from napari_ezp2p.core.errors import Ezp2pError
from napari_ezp2p.core.image import bits_stored_for
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.sc import build_sc, complete_metadata
from napari_ezp2p.core.transfer import transfer_syntax
from tests.capture.conftest import assert_closed
from tests.peers import dciodvfy_errors

PATTERN = {"test_picture": "Color pattern"}
SMALL = (0.0, 0.0, 40.0, 30.0)  # left, top, width, height in mm: 78 × 59 pixels at 50 dpi


def pixels_for(mm: float, dpi: float) -> int:
    return int(mm / 25.4 * dpi)


def test_lists_the_test_device(sane_test_backend: str) -> None:
    infos = {info.name: info for info in list_scanners()}
    assert sane_test_backend in infos
    info = infos[sane_test_backend]
    assert (info.vendor, info.model, info.type) == ("Noname", "frontend-tester", "virtual device")
    assert sane_test_backend in info.label
    assert scanner._users == 0


def test_options_of_the_test_device(sane_test_backend: str) -> None:
    options = scanner_options(sane_test_backend)
    assert options.device == sane_test_backend
    assert options.resolution_range == (1.0, 1200.0, 1.0)
    assert 50.0 in options.resolutions and 300.0 in options.resolutions
    assert options.accepts_resolution(50) and not options.accepts_resolution(5000)
    assert options.modes == ("gray", "color")
    assert options.depths == (1, 8, 16)
    assert options.area_mm == (0.0, 0.0, 200.0, 200.0)
    assert "Flatbed" in options.sources
    assert not options.separate_xy_resolution


def test_16_bit_grey_scan_keeps_16_bits(sane_test_backend: str, scan_sessions: list) -> None:
    fractions: list[float] = []
    image = scan(
        sane_test_backend,
        resolution_dpi=50,
        mode="gray",
        depth=16,
        area_mm=SMALL,
        options=PATTERN,
        progress=fractions.append,
    )
    assert image.dtype == np.uint16
    assert image.shape == (1, pixels_for(30, 50), pixels_for(40, 50), 1)
    assert image.bits_stored == bits_stored_for(image.pixels)
    assert image.bits_stored in (12, 16)
    assert int(image.pixels.max()) > 255  # real 16-bit data, not 8-bit widened
    assert len(np.unique(image.pixels)) > 256
    assert image.pixel_spacing == pytest.approx((0.508, 0.508))
    assert image.conversion_type == "DF"
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert len(fractions) > 2 and fractions == sorted(fractions)
    assert_closed(scan_sessions)


def test_8_bit_colour_scan(sane_test_backend: str) -> None:
    image = scan(
        sane_test_backend,
        resolution_dpi=50,
        mode="color",
        area_mm=SMALL,
        conversion_type="SD",
        options=PATTERN,
    )
    assert image.shape == (1, 59, 78, 3) and image.dtype == np.uint8
    assert image.bits_stored == 8 and image.conversion_type == "SD"
    colours = np.unique(image.pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 8


def test_16_bit_colour_becomes_the_high_byte(sane_test_backend: str) -> None:
    image = scan(
        sane_test_backend,
        resolution_dpi=50,
        mode="color",
        depth=16,
        area_mm=SMALL,
        options=PATTERN,
    )
    # The same scan read straight from python-sane, 16 bits per sample, in a process of
    # its own as scans are (an in-process read can leave libsane locked, and SIGPIPE reset).
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        raw = pool.apply(raw_16_bit_colour_scan, (sane_test_backend,))
    assert raw.dtype == np.uint16 and int(raw.max()) > 255
    assert image.dtype == np.uint8 and image.bits_stored == 8
    assert np.array_equal(image.pixels[0], (raw >> 8).astype(np.uint8))


def raw_16_bit_colour_scan(device: str) -> np.ndarray:
    """The small colour pattern at 16 bits per sample, as python-sane reads it."""
    with sane_session() as sane:
        dev = sane.open(device)
        try:
            dev.mode, dev.depth, dev.resolution = "Color", 16, 50.0
            dev.tl_x, dev.tl_y, dev.br_x, dev.br_y = 0.0, 0.0, 40.0, 30.0
            dev.test_picture = PATTERN["test_picture"]
            dev.start()
            return dev.arr_snap()
        finally:
            dev.close()


def test_area_sets_the_shape(sane_test_backend: str) -> None:
    full = scan(sane_test_backend, resolution_dpi=25, depth=8)
    assert full.shape == (1, pixels_for(200, 25), pixels_for(200, 25), 1)
    part = scan(sane_test_backend, resolution_dpi=50, area_mm=(10.0, 5.0, 20.0, 50.0))
    assert part.shape == (1, pixels_for(50, 50), pixels_for(20, 50), 1)


def test_spacing_follows_the_resolution(sane_test_backend: str) -> None:
    image = scan(sane_test_backend, resolution_dpi=100, area_mm=(0.0, 0.0, 10.0, 10.0))
    assert image.pixel_spacing == pytest.approx((0.254, 0.254))
    assert image.shape == (1, 39, 39, 1)


@pytest.mark.parametrize(
    ("dpi", "reason"),
    [(5000, "5000 dpi.*1 to 1200 dpi"), (0.5, "0.5 dpi.*1 to 1200"), (-3, "positive")],
)
def test_unsupported_resolution_is_refused(
    sane_test_backend: str, scan_sessions: list, dpi: float, reason: str
) -> None:
    with pytest.raises(ScannerError, match=reason):
        scan(sane_test_backend, resolution_dpi=dpi)
    assert_closed(scan_sessions)


def test_area_outside_the_glass_is_refused(sane_test_backend: str, scan_sessions) -> None:
    with pytest.raises(ScannerError, match="does not fit"):
        scan(sane_test_backend, resolution_dpi=50, area_mm=(150.0, 0.0, 60.0, 10.0))
    with pytest.raises(ScannerError, match="empty"):
        scan(sane_test_backend, resolution_dpi=50, area_mm=(0.0, 0.0, 0.0, 10.0))
    assert_closed(scan_sessions)


def test_invalid_option_value_names_the_option(sane_test_backend: str, scan_sessions) -> None:
    with pytest.raises(ScannerError, match="test_picture.*Invalid argument"):
        scan(sane_test_backend, resolution_dpi=50, options={"test_picture": "Mona Lisa"})
    with pytest.raises(ScannerError, match="no .*no_such_option"):
        scan(sane_test_backend, resolution_dpi=50, options={"no-such-option": 1})
    assert_closed(scan_sessions)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"mode": "lineart"}, "mode must be"),
        ({"depth": 12}, "depth must be"),
        ({"conversion_type": "DV"}, "conversion type"),
    ],
)
def test_bad_arguments(sane_test_backend: str, kwargs: dict, reason: str) -> None:
    with pytest.raises(ScannerError, match=reason):
        scan(sane_test_backend, resolution_dpi=50, **kwargs)


def test_unknown_device(sane_test_backend: str) -> None:
    with pytest.raises(ScannerError, match="no scanner called 'nosuch:0'"):
        scan("nosuch:0", resolution_dpi=50)
    with pytest.raises(ScannerError, match="no scanner called"):
        scanner_options("test:99")
    assert scanner._users == 0


def test_busy_device(sane_test_backend: str) -> None:
    # Scans open the device in a child process and the test backend's devices are busy
    # only within one process: the options, read here, give the message a scan gives.
    with sane_session() as sane:
        held = sane.open(sane_test_backend)
        try:
            with pytest.raises(ScannerError, match="is busy"):
                scanner_options(sane_test_backend)
        finally:
            held.close()
    assert scanner._users == 0
    assert scan(sane_test_backend, resolution_dpi=50, area_mm=SMALL).rows == 59


def test_cancel_before_the_scan(sane_test_backend: str, scan_sessions: list) -> None:
    with pytest.raises(ScannerError, match="cancelled"):
        scan(sane_test_backend, resolution_dpi=50, cancel=lambda: True)
    assert scan_sessions == []  # asked before opening: nothing was started or opened
    assert_closed(scan_sessions)


def test_cancel_during_the_scan(sane_test_backend: str, scan_sessions: list) -> None:
    asked: list[int] = []

    def cancel() -> bool:
        asked.append(1)
        return len(asked) > 20  # after some lines have been read

    with pytest.raises(ScannerError, match="cancelled"):
        scan(sane_test_backend, resolution_dpi=50, depth=16, options=PATTERN, cancel=cancel)
    assert len(asked) <= 22  # stopped at once, not after the whole page (393 lines)
    assert len(scan_sessions) == 1
    assert_closed(scan_sessions)
    # The device is free again.
    assert scan(sane_test_backend, resolution_dpi=50, area_mm=SMALL).rows == 59


def test_progress_error_is_raised_after_the_read(sane_test_backend: str, scan_sessions) -> None:
    def progress(fraction: float) -> None:
        if 0 < fraction < 1:
            raise ValueError("progress bar gone")

    with pytest.raises(ValueError, match="progress bar gone"):
        scan(sane_test_backend, resolution_dpi=50, progress=progress)
    assert_closed(scan_sessions)


def test_the_feeder_gives_its_pages_one_at_a_time(sane_test_backend: str, scan_sessions) -> None:
    pages = scan_pages(sane_test_backend, resolution_dpi=50, area_mm=SMALL, max_pages=3)
    images = list(pages)
    assert [image.rows for image in images] == [59, 59, 59]
    assert {image.conversion_type for image in images} == {"SD"}
    assert len(scan_sessions) == 1  # one device session for every page
    assert_closed(scan_sessions)
    everything = list(scan_pages(sane_test_backend, resolution_dpi=50, area_mm=SMALL))
    assert len(everything) == 10  # until the test backend's feeder is empty


def test_leaving_the_pages_early_closes_the_device(sane_test_backend: str, scan_sessions) -> None:
    pages = scan_pages(sane_test_backend, resolution_dpi=50, area_mm=SMALL)
    assert next(pages).rows == 59
    pages.close()
    assert_closed(scan_sessions)


def test_a_cancel_on_a_later_page_keeps_the_pages_before(
    sane_test_backend: str, scan_sessions
) -> None:
    pages_done = []

    def cancel() -> bool:
        return len(pages_done) == 2

    pages = scan_pages(sane_test_backend, resolution_dpi=50, area_mm=SMALL, cancel=cancel)
    with pytest.raises(ScannerError, match="cancelled"):
        for image in pages:
            pages_done.append(image)
    assert len(pages_done) == 2
    assert_closed(scan_sessions)


def test_the_feeder_is_found_among_the_sources() -> None:
    limits = scanner.ScannerOptions(
        device="flat:0",
        resolutions=(300.0,),
        resolution_range=None,
        modes=("gray",),
        sane_modes=("Gray",),
        depths=(8,),
        sources=("Flatbed", "Transparency Unit"),
        area_mm=None,
        separate_xy_resolution=False,
    )
    assert scanner.feeder_source(limits) is None
    with_feeder = dataclasses.replace(limits, sources=("Flatbed", "ADF Duplex"))
    assert scanner.feeder_source(with_feeder) == "ADF Duplex"


def test_missing_python_sane_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sane", None)  # import sane -> ImportError
    with pytest.raises(
        ScannerError, match=r"install the 'scanner' extra \(python-sane\) and SANE"
    ):
        list_scanners()
    with pytest.raises(Ezp2pError, match="python-sane"):
        scan("test:0", resolution_dpi=50)


@pytest.mark.parametrize(("mode", "depth"), [("gray", 16), ("color", 8)])
def test_scan_becomes_a_clean_secondary_capture(
    sane_test_backend: str, tmp_path, mode: str, depth: int
) -> None:
    image = scan(
        sane_test_backend,
        resolution_dpi=50,
        mode=mode,
        depth=depth,
        area_mm=SMALL,
        options=PATTERN,
    )
    meta = complete_metadata(Metadata(), datetime.now())
    ds = build_sc(image, meta, transfer_syntax("explicit-le"))
    path = write_atomically(ds, tmp_path / "scan.dcm")
    assert dciodvfy_errors(path) == []
    read = pydicom.dcmread(path)
    assert read.ConversionType == "DF"
    assert [float(v) for v in read.NominalScannedPixelSpacing] == pytest.approx([0.508, 0.508])
    assert np.array_equal(read.pixel_array.reshape(image.shape), image.pixels)


def _sigpipe_ignored() -> bool:
    """Whether the kernel has SIGPIPE ignored for this process (Python's own view,
    ``signal.getsignal``, does not see what a C library changed)."""
    with open("/proc/self/status") as status:
        (line,) = [line for line in status if line.startswith("SigIgn:")]
    return bool(int(line.split()[1], 16) & (1 << (signal.SIGPIPE - 1)))


def test_a_scan_leaves_sigpipe_ignored_as_python_set_it(sane_test_backend: str) -> None:
    # SANE's test backend resets SIGPIPE while it scans: a peer closing a socket we
    # write to would then kill the process instead of raising BrokenPipeError.
    assert _sigpipe_ignored()
    scan(sane_test_backend, resolution_dpi=25, area_mm=SMALL, options=PATTERN)
    assert _sigpipe_ignored()
    left, right = socket.socketpair()
    right.close()
    with pytest.raises(BrokenPipeError):
        left.sendall(b"x" * 100000)
    left.close()
