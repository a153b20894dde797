"""Scanning through SANE: one image, or every page of a document feeder, as a
:class:`SourceImage`; the scanner itself (listing, options, setting it up) is
:mod:`~napari_ezp2p.capture.scanner`'s.

A scan always closes its device handle, also when it fails or is cancelled.

Cancellation and progress: python-sane reads the image in one call that reads line by
line and calls a callback after each line. ``progress(fraction)`` is called with 0.0
before the scan, with the fraction of lines read (at most about every 1 %) and with 1.0
at the end; ``cancel()`` is asked before the device is opened, before the scan starts,
after each line and after the last one. A cancel stops the scanner (``sane_cancel``) at
once. The line callback must never raise into python-sane (version 2.9.2 crashes the
interpreter when it does), so errors raised by ``progress``/``cancel`` are held, the
scan is cancelled and the error is raised again once python-sane has returned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress

import numpy as np

from ..core.image import SourceImage, bits_stored_for
from .scanner import ScannerError, ScanSettings, opened, sane_session, set_up


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


#: What python-sane's error says when the feeder has no more pages (SANE_STATUS_NO_DOCS);
#: python-sane's own ``multi_scan`` ends on the same text.
_FEEDER_EMPTY = "Document feeder out of documents"


def _scanned(
    device: str,
    settings: ScanSettings,
    pages: int | None,
    feeder: bool,
    progress: Callable[[float], object] | None,
    cancel: Callable[[], bool] | None,
) -> Iterator[SourceImage]:
    settings.check()
    reader = _Reader(device, progress, cancel)
    reader.check_cancel()
    with sane_session() as sane, opened(sane, device) as dev:
        reader.check_cancel()
        spacing = set_up(dev, device, settings, feeder)
        count = 0
        while pages is None or count < pages:
            reader.check_cancel()
            reader.report(0.0)
            try:
                array = reader.read(dev)
            except _FeederEmpty:
                if count == 0:
                    raise ScannerError(f"the document feeder of {device} is empty") from None
                return
            reader.check_cancel()
            image = _to_image(array, settings.mode, settings.conversion_type, spacing)
            reader.report(1.0)
            count += 1
            yield image


class _FeederEmpty(Exception):
    """The document feeder has no (more) pages."""


class _Reader:
    """Runs reads with progress and cancel, never letting an error into python-sane."""

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

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel():
            self.cancelled = True
        if self.cancelled:
            raise ScannerError(f"scan of {self.device} cancelled")

    def report(self, fraction: float) -> None:
        if self.progress is not None:
            self.progress(fraction)
            self.last_reported = fraction

    def read(self, dev) -> np.ndarray:
        try:
            dev.start()
        except Exception as exc:  # _sane.error: busy, jammed, no documents, cover open...
            if str(exc) == _FEEDER_EMPTY:
                raise _FeederEmpty from exc
            raise ScannerError(f"scanner {self.device} cannot start the scan: {exc}") from exc
        try:
            array = dev.arr_snap(progress=lambda line, lines: self._on_line(dev, line, lines))
        except Exception as exc:  # _sane.error or RuntimeError("no data")
            if self.held is not None:
                raise self.held from None
            if self.cancelled:
                raise ScannerError(f"scan of {self.device} cancelled") from exc
            raise ScannerError(f"scanner {self.device} failed while scanning: {exc}") from exc
        if self.held is not None:  # raised after the last line: the scan is whole anyway
            raise self.held
        return array

    def _on_line(self, dev, line: int, lines: int) -> None:
        # Called by python-sane after each line: an exception escaping here crashes it.
        if self.cancelled or self.held is not None:
            return
        try:
            if self.cancel is not None and self.cancel():
                self.cancelled = True
            elif self.progress is not None and lines > 0:
                fraction = min(line / lines, 1.0) * 0.99  # 1.0 once the image is made
                if fraction - self.last_reported >= 0.01:
                    self.report(fraction)
        except BaseException as exc:  # noqa: BLE001 - held and raised after the read
            self.held = exc
        if self.cancelled or self.held is not None:
            with suppress(Exception):
                dev.cancel()


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
