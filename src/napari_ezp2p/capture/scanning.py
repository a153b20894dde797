"""Scanning through SANE: one image, or every page of a document feeder, as a
:class:`SourceImage`; the scanner itself (listing, options, setting it up) is
:mod:`~napari_ezp2p.capture.scanner`'s.

Each scan session (one :func:`scan`, one run of :func:`scan_pages`) runs in a child
process of its own, started with multiprocessing's "spawn" method
(:mod:`~napari_ezp2p.capture.scan_child`): libsane can deadlock in the cleanup after a
read (it kills its reader thread with ``pthread_cancel``, which may leave the allocator
locked), and a hung child is killed instead of holding the caller. Each page is handed
over as soon as it is read; once the session has given what it has to give, the child
gets :data:`EXIT_GRACE_S` seconds to exit before it is killed, and a child that sends
nothing for :data:`NO_DATA_TIMEOUT_S` seconds while a page is expected (for
:data:`START_TIMEOUT_S` while it starts, :data:`FINISH_TIMEOUT_S` after the last line)
is killed and the scan fails ("stopped responding"). A program calling these from its
main script must guard it with ``if __name__ == "__main__":``, as for any "spawn" process.

Cancellation and progress: python-sane reads the image in one call that reads line by
line and calls a callback after each line; the child tells each line to this process.
``progress(fraction)`` is called with 0.0 before the scan, with the fraction of lines
read (at most about every 1 %) and with 1.0 at the end; ``cancel()`` is asked before
the child is started (nothing is opened then), before the scan starts, after each line
and after the last one. ``progress`` and ``cancel`` are called in the caller's thread.
A cancel stops the scanner (``sane_cancel``) at the child's next line. An error raised
by ``progress``/``cancel`` cancels the scan and is raised again once the child has
stopped.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress

import numpy as np

from ..core.image import SourceImage, bits_stored_for
from . import scan_child
from .scanner import ScannerError, ScanSettings, import_sane


def scan(
    device: str,
    *,
    resolution_dpi: float,
    mode: str = "gray",
    depth: int = 8,
    area_mm: tuple[float, float, float, float] | None = None,
    conversion_type: str = "DF",
    options: Mapping[str, object] | None = None,
    progress: Callable[[float], object] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> SourceImage:
    """One scan from ``device`` as a single-frame :class:`SourceImage`.

    ``mode`` "gray" keeps the depth: 16-bit grey stays uint16 with ``bits_stored`` from
    the data (12 when every value fits 12 bits, else 16). ``mode`` "color" gives 8-bit
    RGB: a 16-bit colour scan is reduced to the high byte of each sample. The pixel
    spacing is 25.4 / dpi mm, per axis when the device has separate x and y
    resolutions. ``area_mm`` is (left, top, width, height) in mm; None scans the whole
    area the device offers. ``conversion_type`` is "DF" (digitized film) or "SD"
    (scanned document). ``options`` are further SANE options by name (e.g. ``source``),
    set after mode, depth and resolution. See the module text for ``progress`` and
    ``cancel``; a cancelled scan raises ScannerError("... cancelled").
    """
    settings = ScanSettings(resolution_dpi, mode, depth, area_mm, conversion_type, options)
    pages = _scanned(device, settings, 1, False, progress, cancel)
    try:
        return next(pages)
    finally:
        pages.close()  # closes the device


def scan_pages(
    device: str,
    *,
    resolution_dpi: float,
    mode: str = "gray",
    depth: int = 8,
    area_mm: tuple[float, float, float, float] | None = None,
    conversion_type: str = "SD",
    options: Mapping[str, object] | None = None,
    max_pages: int | None = None,
    progress: Callable[[float], object] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Iterator[SourceImage]:
    """Every page in ``device``'s document feeder (at most ``max_pages``), one at a time.

    The device's ``source`` is set to its feeder (the first source whose name says ADF
    or feeder); the other arguments are those of :func:`scan`, ``progress`` going from
    0 to 1 for each page. The pages end when the feeder is empty; an empty feeder at
    the first page is a ScannerError, as is a jam or a cancel at any page (the pages
    yielded before it are kept by the caller). The device stays open between pages.
    """
    if max_pages is not None and max_pages < 1:
        raise ScannerError(f"the number of pages must be 1 or more, not {max_pages}")
    settings = ScanSettings(resolution_dpi, mode, depth, area_mm, conversion_type, options)
    return _scanned(device, settings, max_pages, True, progress, cancel)


#: How long a child may stay silent while a page is expected (lamps warm up) before the
#: scan fails as "stopped responding"; tests set it lower.
NO_DATA_TIMEOUT_S = 180.0
#: The same for starting: the child's interpreter, SANE (network backends look for their
#: scanners), opening and setting up the device.
START_TIMEOUT_S = 180.0
#: The same once the child has told the page's last line: only the end of the read is
#: left, where libsane can deadlock.
FINISH_TIMEOUT_S = 10.0
#: How long a child that has said all it had to say may take to exit before it is killed.
EXIT_GRACE_S = 3.0

_SPAWN = multiprocessing.get_context("spawn")  # never fork this threaded process


def _scanned(
    device: str,
    settings: ScanSettings,
    pages: int | None,
    feeder: bool,
    progress: Callable[[float], object] | None,
    cancel: Callable[[], bool] | None,
) -> Iterator[SourceImage]:
    settings.check()
    import_sane()  # a missing python-sane is said here, not by the child
    reader = _Reader(device, progress, cancel)
    reader.check_cancel()
    child = _Child(device, settings, pages, feeder)
    try:
        spacing = reader.ready(child)
        count = 0
        while pages is None or count < pages:
            reader.check_cancel()
            reader.report(0.0)
            child.tell(("go",))
            try:
                array = reader.read(child)
            except _FeederEmpty:
                if count == 0:
                    raise ScannerError(f"the document feeder of {device} is empty") from None
                return
            reader.check_cancel()
            image = _to_image(array, settings.mode, settings.conversion_type, spacing)
            reader.report(1.0)
            count += 1
            yield image
    finally:
        child.stop()


class _FeederEmpty(Exception):
    """The document feeder has no (more) pages."""


class _Child:
    """The process a scan session runs in (:mod:`.scan_child`), and our end of its pipe."""

    def __init__(
        self, device: str, settings: ScanSettings, pages: int | None, feeder: bool
    ) -> None:
        self.device = device
        self.conn, child_conn = _SPAWN.Pipe()
        picklable = dataclasses.replace(settings, options=dict(settings.options or {}))
        self.process = _SPAWN.Process(
            target=scan_child.run,
            args=(child_conn, device, picklable, pages, feeder),
            name=f"scan {device}",
            daemon=True,
        )
        try:
            self.process.start()
        finally:
            child_conn.close()  # the child's end lives in the child only

    def receive(self, timeout: float) -> tuple:
        """The child's next message; a silent or vanished child is a ScannerError."""
        if not self.conn.poll(timeout):
            raise ScannerError(
                f"scanner {self.device} stopped responding (no data for {timeout:g} s)"
            )
        try:
            return self.conn.recv()
        except EOFError:
            self.process.join(EXIT_GRACE_S)
            raise ScannerError(
                f"scanner {self.device} failed: its scanning process ended "
                f"(exit code {self.process.exitcode})"
            ) from None

    def tell(self, message: tuple) -> None:
        with suppress(OSError):  # the child is gone: its end says why
            self.conn.send(message)

    def stop(self) -> None:
        """Let the child leave (a short grace), else kill it: it never holds the caller."""
        self.conn.close()
        process = self.process
        process.join(EXIT_GRACE_S)
        if process.exitcode is None:  # stuck, e.g. in libsane's cleanup
            process.terminate()
            process.join(1.0)
        if process.exitcode is None:
            process.kill()
            process.join(EXIT_GRACE_S)  # longer only while the kernel holds it (a driver)
        if process.exitcode is not None:
            process.close()


class _Reader:
    """Turns the child's messages into progress, asks for cancels, holds their errors."""

    def __init__(
        self,
        device: str,
        progress: Callable[[float], object] | None,
        cancel: Callable[[], bool] | None,
    ) -> None:
        self.device = device
        self.progress = progress
        self.cancel = cancel
        self.cancelled = False
        self.held: BaseException | None = None
        self.last_reported = -1.0
        self.last_line_told = False

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel():
            self.cancelled = True
        if self.cancelled:
            raise ScannerError(f"scan of {self.device} cancelled")

    def report(self, fraction: float) -> None:
        if self.progress is not None:
            self.progress(fraction)
            self.last_reported = fraction

    def ready(self, child: _Child) -> tuple[float, float]:
        """The pixel spacing once the child has opened and set up the device."""
        kind, *rest = child.receive(START_TIMEOUT_S)
        if kind == "error":
            raise ScannerError(rest[0])
        return rest[0]

    def read(self, child: _Child) -> np.ndarray:
        self.last_line_told = False
        while True:
            kind, *rest = child.receive(
                FINISH_TIMEOUT_S if self.last_line_told else NO_DATA_TIMEOUT_S
            )
            if kind == "line":
                self._on_line(child, *rest)
                continue
            if self.held is not None:  # held even when the page is whole
                raise self.held
            if kind == "page":
                return _array_of(*rest)
            if kind == "feeder_empty":
                raise _FeederEmpty
            if kind == "cancelled":
                raise ScannerError(f"scan of {self.device} cancelled")
            raise ScannerError(rest[0])  # "error"

    def _on_line(self, child: _Child, line: int, lines: int) -> None:
        self.last_line_told = line >= lines
        if self.cancelled or self.held is not None:
            return  # the child has been told to cancel
        try:
            if self.cancel is not None and self.cancel():
                self.cancelled = True
            elif self.progress is not None and lines > 0:
                fraction = min(line / lines, 1.0) * 0.99  # 1.0 once the image is made
                if fraction - self.last_reported >= 0.01:
                    self.report(fraction)
        except BaseException as exc:  # noqa: BLE001 - raised once the child has stopped
            self.held = exc
        if self.cancelled or self.held is not None:
            child.tell(("cancel",))


def _array_of(data: bytes, width: int, height: int, samples: int, size: int) -> np.ndarray:
    """python-sane's snap tuple as its (rows, columns, samples) array, as arr_snap does."""
    array = np.frombuffer(data, np.uint8 if size == 1 else np.uint16)
    return array.reshape(height, width, samples)


def _to_image(
    array: np.ndarray, mode: str, conversion_type: str, spacing: tuple[float, float]
) -> SourceImage:
    """python-sane's (rows, columns, samples) array as a SourceImage."""
    if array.ndim != 3 or array.shape[2] not in (1, 3) or array.size == 0:
        raise ScannerError(f"the scanner returned an image of unexpected shape {array.shape}")
    if mode == "color" and array.shape[2] != 3:
        raise ScannerError("the scanner returned grey data for a colour scan")
    fields = {"conversion_type": conversion_type, "pixel_spacing": spacing}
    if array.shape[2] == 3:
        if array.dtype == np.uint16:
            array = (array >> 8).astype(np.uint8)
        return SourceImage.from_array(np.ascontiguousarray(array), rgb=True, **fields)
    grey = np.ascontiguousarray(array[:, :, 0])
    return SourceImage.from_array(grey, rgb=False, bits_stored=bits_stored_for(grey), **fields)
