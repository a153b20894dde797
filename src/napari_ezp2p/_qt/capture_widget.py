"""The Capture dock: scanners, video devices and video files straight into image layers.

A thin face on :mod:`napari_ezp2p.capture`. The source list holds the SANE scanners
(listed in a ``thread_worker``: SANE may take seconds to look at the network), the V4L2
video devices and the video files chosen with "Video file…". Every scan, grab and
recording runs in a ``thread_worker`` with a progress bar (in the dock and in napari's
activity area) and a Cancel button: the capture functions ask a ``cancel`` callable that
reads a flag the button sets. A video preview is a generator worker that yields a frame
at most every :attr:`CaptureWidget.preview_interval` seconds into one preview layer.

What is captured becomes an image layer whose ``metadata["ezp2p"]`` holds Metadata fields
(``conversion_type``; ``pixel_spacing`` for scans; ``frame_time_ms`` for clips), which the
writer and the Send dock turn into Nominal Scanned Pixel Spacing or Frame Time.

Errors (no device, a busy one, a clip over the size limit) and cancellations are napari
notifications and the dock's status line; the viewer never waits for a device. Closing
the dock cancels what runs and stops the preview (which closes its device).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from napari.qt.threading import create_worker
from napari.utils import progress
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QEvent, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .._napari.reader import limits_from_data
from ..capture.clip import MAX_CLIP_BYTES, CaptureCancelled, Clip, ClipTooLargeError, record
from ..capture.devices import VideoDevice, list_video_devices
from ..capture.scanner import (
    ScannerInfo,
    ScannerOptions,
    feeder_source,
    list_scanners,
    scanner_options,
)
from ..capture.scanning import scan, scan_pages
from ..capture.video import VIDEO_SUFFIXES, VideoSource
from ..core.errors import Ezp2pError
from ..core.image import SourceImage
from ._common import Unnested

#: Kinds of source, the prefix of each source entry's data ("scanner:test:0").
SCANNER, DEVICE, FILE, PICK = "scanner", "device", "file", "pick"
#: The resolution chosen first when the scanner offers it (dpi).
DEFAULT_DPI = 300.0

# ---------------------------------------------------------------------------------------
# Work done in worker threads (no Qt here)


@dataclass(frozen=True)
class Outcome:
    """What a capture worker returns: its value, or the reason it failed (never raises)."""

    value: Any = None
    error: str = ""
    cancelled: bool = False
    too_large: bool = False


def attempt(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    """``func(*args, **kwargs)`` as an Outcome; our own errors become its ``error``."""
    try:
        return Outcome(func(*args, **kwargs))
    except CaptureCancelled as error:
        return Outcome(error=str(error), cancelled=True)
    except ClipTooLargeError as error:
        return Outcome(error=str(error), too_large=True)
    except Ezp2pError as error:
        return Outcome(error=str(error), cancelled=str(error).endswith("cancelled"))


def feeder_pages(device: str, **scan_args: Any) -> Iterator[Outcome]:
    """Each page of ``device``'s document feeder as an Outcome, as it is scanned; one
    that failed (a jam, a cancel) is the last."""
    pages = scan_pages(device, **scan_args)
    while True:
        outcome = attempt(next, pages, None)
        if outcome.value is None and not outcome.error:
            return  # the feeder is empty
        yield outcome
        if outcome.error:
            return


def open_video(path: str, live: bool) -> VideoSource:
    """A file, or a device through V4L2 (whatever its node is called)."""
    return VideoSource(path, format="v4l2" if live else None)


def grab_frame(path: str, live: bool) -> SourceImage:
    """The first frame of a file, or the frame a device delivers now."""
    with open_video(path, live) as source:
        return source.grab()


def record_clip(path: str, live: bool, **record_args: Any) -> Clip:
    """A clip from the start of a file, or from now on a device (see VideoSource.record)."""
    with open_video(path, live) as source:
        return record(source, **record_args)


def preview_frames(
    path: str, live: bool, stopped: Callable[[], bool], interval: float
) -> Iterator[np.ndarray]:
    """Frames to show, at most one each ``interval`` seconds, until ``stopped()``.

    A file plays at about its own speed (frames skipped to keep the rate) and starts
    again at its end; a device is read continuously and every frame it delivers after
    ``interval`` is shown. Returns (the worker's ``returned``) the reason it ended:
    empty when stopped, else the error.
    """
    try:
        while not stopped():
            with open_video(path, live) as source:
                rate = source.info.frame_rate
                step = max(1, round(rate * interval)) if rate and not live else 1
                shown = 0.0
                for number, frame in enumerate(source.frames()):
                    if stopped():
                        return ""
                    if live:
                        now = time.monotonic()
                        if now - shown >= interval:
                            shown = now
                            yield frame
                    elif number % step == 0:
                        yield frame
                        time.sleep(interval)
            if live:
                return f"{path}: the device stopped delivering frames"
    except Ezp2pError as error:
        return str(error)
    return ""


# ---------------------------------------------------------------------------------------
# The dock


class CaptureWidget(QWidget):
    """Scan, grab a video frame or record a clip into a new image layer.

    ``worker`` is the last scan/grab/record worker, ``list_worker`` the scanner listing,
    ``options_worker`` the scanner's options and ``preview_worker`` the running preview
    (tests wait on their ``finished``). ``max_clip_bytes`` limits a recording;
    ``extra_scan_options`` are further SANE options by name for every scan.
    """

    _docked = False  # set once the widget has had a parent (a dock)
    _main_window = None  # the viewer's window, whose closing closes the dock too

    #: Fraction of a scan done, from the scanning thread.
    scan_progressed = Signal(float)
    #: Frames recorded and the frames expected (0 when unknown), from the recording thread.
    record_progressed = Signal(int, int)

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker = None
        self.list_worker = None
        self.options_worker = None
        self.preview_worker = None
        self.options: ScannerOptions | None = None
        self.max_clip_bytes = MAX_CLIP_BYTES
        self.extra_scan_options: dict[str, object] = {}
        self.preview_interval = 0.1
        self._scanners: list[ScannerInfo] = []
        self._devices: list[VideoDevice] = []
        self._files: list[str] = []
        self._source = ""  # data of the chosen entry
        self._cancel = threading.Event()
        self._preview_stop = threading.Event()
        self._preview_layer = None
        self._last_frame: np.ndarray | None = None
        self._progress: progress | None = None
        self._progress_now = (0, 0)  # (done, total) of the running work
        self._redraw_progress = Unnested(self._draw_progress)
        self._busy = False
        # Set when the dock closes or its Qt object is destroyed (then nothing of the
        # dock may be touched): workers check it, results arriving later are dropped.
        self._closing = threading.Event()
        self.destroyed.connect(
            lambda *_, closing=self._closing, cancel=self._cancel: (closing.set(), cancel.set())
        )

        self.source_combo = QComboBox()
        self.source_combo.setToolTip("Scanners (SANE), video devices (V4L2) and video files")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Look for scanners and video devices again")
        sources = QHBoxLayout()
        sources.addWidget(self.source_combo, 1)
        sources.addWidget(self.refresh_button)

        self.scanner_box = self._build_scanner_box()
        self.video_box = self._build_video_box()

        self.progress_bar = QProgressBar()
        self.progress_bar.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        running = QHBoxLayout()
        running.addWidget(self.progress_bar, 1)
        running.addWidget(self.cancel_button)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(sources)
        layout.addWidget(self.scanner_box)
        layout.addWidget(self.video_box)
        layout.addLayout(running)
        layout.addWidget(self.status_label)
        layout.addStretch(1)

        self.source_combo.currentIndexChanged.connect(self._on_source_chosen)
        self.refresh_button.clicked.connect(self.refresh)
        self.cancel_button.clicked.connect(self.cancel)
        self.scan_button.clicked.connect(self.start_scan)
        self.area_check.toggled.connect(self._enable_area)
        self.feeder_check.toggled.connect(self._enable_source)
        self.preview_button.clicked.connect(self.toggle_preview)
        self.grab_button.clicked.connect(self.grab)
        self.record_button.clicked.connect(self.start_record)
        self.record_unit.currentIndexChanged.connect(self._on_unit_chosen)
        self.scan_progressed.connect(self._on_scan_progress)
        self.record_progressed.connect(self._on_record_progress)

        self._fill_sources()
        self.refresh()

    # -- building -------------------------------------------------------------------

    def _build_scanner_box(self) -> QGroupBox:
        box = QGroupBox("Scanner")
        form = QFormLayout(box)
        self.resolution = QComboBox()
        self.mode = QComboBox()
        self.depth = QComboBox()
        self.kind = QComboBox()
        self.kind.addItem("Film (DF)", "DF")
        self.kind.addItem("Document (SD)", "SD")
        self.kind.setToolTip("Conversion Type: digitized film, or scanned document")
        self.scan_source = QComboBox()
        self.scan_source.setToolTip("Where the scanner reads (flatbed, transparency unit, ...)")
        self.feeder_check = QCheckBox("Every page in the document feeder")
        self.feeder_check.setToolTip("One layer per page, until the feeder is empty")
        self.feeder_check.setEnabled(False)
        self.area_check = QCheckBox("Only an area (mm)")
        self.area = [QDoubleSpinBox() for _ in range(4)]
        area_row = QHBoxLayout()
        for spin, tip in zip(self.area, ("Left", "Top", "Width", "Height"), strict=True):
            spin.setDecimals(1)
            spin.setToolTip(f"{tip} in mm")
            spin.setEnabled(False)
            area_row.addWidget(spin)
        self.scan_button = QPushButton("Scan")
        self.scan_button.setEnabled(False)
        form.addRow("Resolution (dpi)", self.resolution)
        form.addRow("Mode", self.mode)
        form.addRow("Depth (bits)", self.depth)
        form.addRow("Type", self.kind)
        form.addRow("Source", self.scan_source)
        form.addRow(self.feeder_check)
        form.addRow(self.area_check)
        form.addRow(area_row)
        form.addRow(self.scan_button)
        box.setVisible(False)
        return box

    def _build_video_box(self) -> QGroupBox:
        box = QGroupBox("Video")
        self.preview_button = QPushButton("Preview")
        self.preview_button.setCheckable(True)
        self.preview_button.setToolTip("Show the source live in a preview layer")
        self.grab_button = QPushButton("Grab frame")
        self.grab_button.setToolTip("The frame shown now (or the first one) as a new layer")
        self.record_amount = QDoubleSpinBox()
        self.record_amount.setRange(1, 100_000)
        self.record_amount.setDecimals(0)
        self.record_amount.setValue(25)
        self.record_unit = QComboBox()
        self.record_unit.addItems(["frames", "seconds"])
        self.record_button = QPushButton("Record")
        self.record_button.setToolTip("A clip as a multi-frame layer, with its frame time")
        top = QHBoxLayout()
        top.addWidget(self.preview_button)
        top.addWidget(self.grab_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.record_amount)
        bottom.addWidget(self.record_unit)
        bottom.addWidget(self.record_button)
        layout = QVBoxLayout(box)
        layout.addLayout(top)
        layout.addLayout(bottom)
        box.setVisible(False)
        return box

    # -- sources --------------------------------------------------------------------

    def refresh(self) -> None:
        """List the video devices now and the scanners in a worker."""
        try:
            self._devices = list_video_devices()
        except OSError as error:  # /dev unreadable: no devices rather than no dock
            self._devices = []
            self._set_status(f"Cannot list video devices: {error}")
        self._fill_sources()
        if self.list_worker is not None:
            return  # a listing is running: it fills the list when it ends
        self._set_status("Looking for scanners…")
        self.refresh_button.setEnabled(False)
        worker = create_worker(attempt, list_scanners, _start_thread=False)
        worker.returned.connect(self._on_scanners_listed)
        worker.finished.connect(self._on_listing_finished)
        self.list_worker = worker
        worker.start()

    def _on_scanners_listed(self, outcome: Outcome) -> None:
        if self._closed:
            return
        if outcome.error:
            self._scanners = []  # a normal state (no SANE here): said in the dock, no pop-up
            self._set_status(f"No scanners: {outcome.error}")
        else:
            self._scanners = list(outcome.value)
            self._set_status(
                f"{len(self._scanners)} scanner(s), {len(self._devices)} video device(s)"
            )
        self._fill_sources()

    def _on_listing_finished(self) -> None:
        self.list_worker = None
        if not self._closed:
            self.refresh_button.setEnabled(True)

    def _fill_sources(self) -> None:
        """The entries again, keeping the chosen one when it is still there."""
        combo = self.source_combo
        combo.blockSignals(True)
        try:
            combo.clear()
            combo.addItem("(choose a source)", "")
            for info in self._scanners:
                combo.addItem(f"Scanner: {info.label}", f"{SCANNER}:{info.name}")
            for device in self._devices:
                combo.addItem(f"Camera: {device.name} ({device.path})", f"{DEVICE}:{device.path}")
            for path in self._files:
                combo.addItem(f"File: {Path(path).name}", f"{FILE}:{path}")
            combo.addItem("Video file…", f"{PICK}:")
            index = combo.findData(self._source) if self._source else 0
            combo.setCurrentIndex(max(index, 0))
        finally:
            combo.blockSignals(False)
        if combo.currentData() != self._source:
            self._on_source_chosen(combo.currentIndex())

    def current_source(self) -> tuple[str, str]:
        """(kind, name) of the chosen source: ("scanner", "test:0"), ("file", path), ..."""
        kind, _, name = (self._source or ":").partition(":")
        return kind, name

    def select_source(self, kind: str, name: str) -> None:
        """Choose the source ``kind``:``name`` (as if picked in the list)."""
        index = self.source_combo.findData(f"{kind}:{name}")
        if index < 0:
            raise LookupError(f"no {kind} {name!r} in the source list")
        self.source_combo.setCurrentIndex(index)

    def set_video_file(self, path: str | Path) -> None:
        """Add the video file ``path`` to the sources and choose it."""
        path = str(path)
        if path not in self._files:
            self._files.append(path)
            self._fill_sources()
        self.select_source(FILE, path)

    def _on_source_chosen(self, index: int) -> None:
        data = self.source_combo.itemData(index) or ""
        if data.startswith(f"{PICK}:"):
            path, _ = QFileDialog.getOpenFileName(
                self,
                "Open a video file",
                "",
                "Videos ({});;All files (*)".format(
                    " ".join(f"*{suffix}" for suffix in sorted(VIDEO_SUFFIXES))
                ),
            )
            if path:
                self.set_video_file(path)
            else:  # dialog cancelled: back to what was chosen
                self.source_combo.blockSignals(True)
                self.source_combo.setCurrentIndex(max(self.source_combo.findData(self._source), 0))
                self.source_combo.blockSignals(False)
            return
        if data == self._source:
            return
        self.stop_preview()
        self._source = data
        kind, name = self.current_source()
        self.scanner_box.setVisible(kind == SCANNER)
        self.video_box.setVisible(kind in (DEVICE, FILE))
        self.options = None
        self.scan_button.setEnabled(False)
        if kind == SCANNER:
            self._load_options(name)
        self._update_buttons()

    # -- scanning -------------------------------------------------------------------

    def _load_options(self, device: str) -> None:
        self._set_status(f"Asking {device} what it offers…")
        worker = create_worker(attempt, scanner_options, device, _start_thread=False)
        worker.returned.connect(lambda outcome: self._on_options(device, outcome))
        worker.finished.connect(lambda: setattr(self, "options_worker", None))
        self.options_worker = worker
        worker.start()

    def _on_options(self, device: str, outcome: Outcome) -> None:
        if self._closed or self.current_source() != (SCANNER, device):
            return  # another source was chosen meanwhile
        if outcome.error:
            self._fail(f"Scanner {device}: {outcome.error}")
            return
        options: ScannerOptions = outcome.value
        self.options = options
        self._fill_combo(
            self.resolution,
            [(f"{dpi:g}", float(dpi)) for dpi in options.resolutions],
            DEFAULT_DPI,
        )
        names = {"gray": "Grey", "color": "Colour"}
        self._fill_combo(self.mode, [(names[m], m) for m in options.modes], "gray")
        depths = [d for d in options.depths if d in (8, 16)] or [8]
        self._fill_combo(self.depth, [(str(d), d) for d in depths], 16 if 16 in depths else 8)
        self._fill_combo(self.scan_source, [(s, s) for s in options.sources], None)
        has_feeder = feeder_source(options) is not None
        self.feeder_check.setEnabled(has_feeder)
        if not has_feeder:
            self.feeder_check.setChecked(False)
        self._enable_source()
        area = options.area_mm
        self.area_check.setEnabled(area is not None)
        if area is not None:
            left, top, width, height = area
            limits = ((left, left + width), (top, top + height), (0, width), (0, height))
            for spin, (low, high), value in zip(self.area, limits, area, strict=True):
                spin.setRange(low, high)
                spin.setValue(value)
        self._enable_area(self.area_check.isChecked())
        self._set_status(f"Ready to scan with {device}")
        self._update_buttons()

    @staticmethod
    def _fill_combo(combo: QComboBox, items: list[tuple[str, object]], wanted) -> None:
        combo.clear()
        for text, data in items:
            combo.addItem(text, data)
        index = combo.findData(wanted) if wanted is not None else -1
        combo.setCurrentIndex(index if index >= 0 else 0)

    def _enable_source(self) -> None:
        """The source is the feeder when every page in it is scanned."""
        feeder = self.feeder_check.isChecked()
        self.scan_source.setEnabled(self.scan_source.count() > 0 and not feeder)

    def _enable_area(self, checked: bool) -> None:
        for spin in self.area:
            spin.setEnabled(checked and self.area_check.isEnabled())

    def scan_settings(self) -> dict[str, Any]:
        """The keyword arguments of capture.scanner.scan the form says."""
        settings: dict[str, Any] = {
            "resolution_dpi": self.resolution.currentData(),
            "mode": self.mode.currentData() or "gray",
            "depth": self.depth.currentData() or 8,
            "conversion_type": self.kind.currentData(),
            "area_mm": None,
        }
        if self.area_check.isChecked() and self.area_check.isEnabled():
            settings["area_mm"] = tuple(spin.value() for spin in self.area)
        options = dict(self.extra_scan_options)
        if self.scan_source.isEnabled() and self.scan_source.currentData():
            options.setdefault("source", self.scan_source.currentData())
        settings["options"] = options
        return settings

    def start_scan(self) -> None:
        """Scan with the chosen scanner in a worker; the image becomes a new layer (each
        page of the feeder one, as it comes, when the feeder is chosen)."""
        kind, device = self.current_source()
        if kind != SCANNER or self.options is None or self._busy:
            return
        settings = self.scan_settings()
        self._begin(f"Scanning with {device}", 100)
        watch = {"progress": self.scan_progressed.emit, "cancel": self._cancel.is_set}
        if not self.feeder_check.isChecked():
            work = partial(scan, device, **settings, **watch)
            worker = create_worker(attempt, work, _start_thread=False)
            worker.returned.connect(lambda outcome: self._on_scanned(device, settings, outcome))
        else:
            worker = create_worker(feeder_pages, device, **settings, **watch, _start_thread=False)
            pages = itertools.count(1)
            worker.yielded.connect(
                lambda outcome: self._on_scanned(
                    device, settings, outcome, name=f"{device} page {next(pages)}"
                )
            )
        self._run(worker)

    def _on_scan_progress(self, fraction: float) -> None:
        self._show_progress(round(fraction * 100), 100)

    def _on_scanned(self, device: str, settings: dict, outcome: Outcome, name: str = "") -> None:
        if self._closed:
            return
        if outcome.error:
            if outcome.cancelled and self._cancel.is_set():
                self._note(f"Scan of {device} cancelled")
            else:
                self._fail(outcome.error)
            return
        image: SourceImage = outcome.value
        fields = {"conversion_type": settings["conversion_type"]}
        if image.pixel_spacing is not None:
            fields["pixel_spacing"] = tuple(image.pixel_spacing)
        metadata = {"source": device, "bits_stored": image.bits_stored, "ezp2p": fields}
        if image.is_colour:
            layer = self.viewer.add_image(
                image.pixels[0], name=name or device, rgb=True, metadata=metadata
            )
        else:
            data = image.pixels[0, :, :, 0]
            layer = self.viewer.add_image(
                data,
                name=name or device,
                rgb=False,
                colormap="gray",
                contrast_limits=limits_from_data(data),
                metadata=metadata,
            )
        self._set_status(
            f"Scanned {image.columns} × {image.rows} at {settings['resolution_dpi']:g} dpi "
            f"into layer {layer.name!r}"
        )

    # -- video ----------------------------------------------------------------------

    def _video_source(self) -> tuple[str, bool, str] | None:
        """(path, live, label) of the chosen video source, or None."""
        kind, name = self.current_source()
        if kind == DEVICE:
            label = next((d.name for d in self._devices if d.path == name), name)
            return name, True, label
        if kind == FILE:
            return name, False, Path(name).stem
        return None

    def toggle_preview(self) -> None:
        """Start the preview of the chosen video source, or stop it."""
        if self.preview_worker is not None:
            self.stop_preview()
        else:
            self.start_preview()
        self._update_buttons()

    def start_preview(self) -> None:
        source = self._video_source()
        if source is None or self.preview_worker is not None:
            return
        path, live, label = source
        stop = self._preview_stop = threading.Event()
        closing = self._closing
        self._last_frame = None
        worker = create_worker(
            preview_frames,
            path,
            live,
            lambda: stop.is_set() or closing.is_set(),
            self.preview_interval,
            _start_thread=False,
        )
        worker.yielded.connect(lambda frame: self._show_preview(frame, label, stop))
        worker.returned.connect(lambda reason: self._on_preview_ended(reason, stop))
        worker.finished.connect(lambda: self._forget_preview(worker))
        self.preview_worker = worker
        self.preview_button.setChecked(True)
        self.preview_button.setText("Stop")
        self._set_status(f"Previewing {label}")
        worker.start()

    def stop_preview(self) -> None:
        """Stop the preview (its source is closed by the worker) and remove its layer."""
        self._preview_stop.set()
        if self.preview_worker is not None:
            self.preview_worker.quit()
            self.preview_worker = None
        layer, self._preview_layer = self._preview_layer, None
        if layer is not None and layer in self.viewer.layers:
            self.viewer.layers.remove(layer)
        self._last_frame = None
        self.preview_button.setChecked(False)
        self.preview_button.setText("Preview")

    def _forget_preview(self, worker) -> None:
        if self.preview_worker is worker and not self._closed:
            self.preview_worker = None
            self.preview_button.setChecked(False)
            self.preview_button.setText("Preview")

    def _show_preview(self, frame: np.ndarray, label: str, stop: threading.Event) -> None:
        if stop.is_set() or self._closed:
            return  # a frame still queued when the preview was stopped
        layer = self._preview_layer
        if layer is not None and layer not in self.viewer.layers:
            self.stop_preview()  # the preview layer was deleted (or the viewer is closing)
            return
        self._last_frame = frame
        if layer is not None and layer.data.shape == frame.shape:
            layer.data = frame
            return
        if layer is not None:
            self.viewer.layers.remove(layer)
        self._preview_layer = self.viewer.add_image(
            frame,
            name=f"Preview: {label}",
            rgb=True,
            metadata={"ezp2p": {"conversion_type": "DV"}},
        )

    def _on_preview_ended(self, reason: str, stop: threading.Event) -> None:
        if reason and not stop.is_set() and not self._closed:
            self._fail(f"Preview stopped: {reason}")
            self.stop_preview()

    def grab(self) -> None:
        """The frame the preview shows (else the source's first or current frame)."""
        source = self._video_source()
        if source is None or self._busy:
            return
        path, live, label = source
        if self._last_frame is not None and self.preview_worker is not None:
            self._add_frame(self._last_frame.copy(), label, path)
            return
        self._begin(f"Grabbing a frame from {label}", 0)
        worker = create_worker(attempt, grab_frame, path, live, _start_thread=False)
        worker.returned.connect(lambda outcome: self._on_grabbed(outcome, label, path))
        self._run(worker)

    def _on_grabbed(self, outcome: Outcome, label: str, path: str) -> None:
        if self._closed:
            return
        if outcome.error:
            self._fail(outcome.error)
            return
        self._add_frame(outcome.value.pixels[0], label, path)

    def _add_frame(self, frame: np.ndarray, label: str, path: str) -> None:
        metadata = {"source": path, "bits_stored": 8, "ezp2p": {"conversion_type": "DV"}}
        layer = self.viewer.add_image(frame, name=f"{label} frame", rgb=True, metadata=metadata)
        self._set_status(f"Grabbed a frame into layer {layer.name!r}")

    def _on_unit_chosen(self, index: int) -> None:
        seconds = self.record_unit.currentText() == "seconds"
        self.record_amount.setDecimals(1 if seconds else 0)
        self.record_amount.setMinimum(0.1 if seconds else 1)

    def record_settings(self) -> dict[str, Any]:
        """``frames=`` or ``seconds=`` as the form says."""
        value = self.record_amount.value()
        if self.record_unit.currentText() == "seconds":
            return {"seconds": float(value)}
        return {"frames": max(1, round(value))}

    def start_record(self) -> None:
        """Record a clip in a worker (the preview stops: a device has one reader)."""
        source = self._video_source()
        if source is None or self._busy:
            return
        path, live, label = source
        self.stop_preview()
        amount = self.record_settings()
        self._begin(f"Recording {label}", amount.get("frames", 0))
        worker = create_worker(
            attempt,
            record_clip,
            path,
            live,
            **amount,
            progress=lambda done, total: self.record_progressed.emit(done, total or 0),
            cancel=self._cancel.is_set,
            max_bytes=self.max_clip_bytes,
            _start_thread=False,
        )
        worker.returned.connect(lambda outcome: self._on_recorded(outcome, label))
        self._run(worker)

    def _on_record_progress(self, done: int, total: int) -> None:
        self._show_progress(done, total)

    def _on_recorded(self, outcome: Outcome, label: str) -> None:
        if self._closed:
            return
        if outcome.error:
            if outcome.cancelled:
                self._note(f"Recording of {label} cancelled before any frame")
            elif outcome.too_large:
                self._fail(f"Clip too large: {outcome.error}")
            else:
                self._fail(outcome.error)
            return
        clip: Clip = outcome.value
        metadata = {
            "source": clip.source,
            "bits_stored": 8,
            "ezp2p": {"conversion_type": "DV", "frame_time_ms": clip.frame_time_ms},
            "video": {
                "codec": clip.image.source_format,
                "lossy_compression": clip.image.lossy_compression,
            },
        }
        layer = self.viewer.add_image(
            clip.image.pixels, name=f"{label} clip", rgb=True, metadata=metadata
        )
        done = f"{clip.frames} frames at {clip.frame_time_ms:.4g} ms into layer {layer.name!r}"
        if clip.cancelled:
            self._note(f"Recording of {label} cancelled: kept {done}")
        else:
            self._set_status(f"Recorded {done}")

    # -- running work ---------------------------------------------------------------

    def _begin(self, description: str, total: int) -> None:
        self._busy = True
        self._cancel.clear()
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(0)
        self.progress_bar.setVisible(True)
        self._progress = progress(total=total, desc=description)
        self._set_status(f"{description}…")
        self._update_buttons()

    def _run(self, worker) -> None:
        self.worker = worker
        worker.finished.connect(self._on_finished)
        worker.start()

    def _show_progress(self, done: int, total: int) -> None:
        self._progress_now = (done, total)
        self._redraw_progress()

    def _draw_progress(self) -> None:
        done, total = self._progress_now
        if total and total != self.progress_bar.maximum():
            self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(min(done, total) if total else 0)
        bar = self._progress
        if bar is not None:
            if total and bar.total != total:
                bar.total = total
            if done > bar.n:
                bar.update(done - bar.n)

    def _on_finished(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None
        self._busy = False
        if self._closed:  # the dock's widgets may be gone already
            return
        self.progress_bar.setVisible(False)
        self._update_buttons()

    def cancel(self) -> None:
        """Ask the running scan or recording to stop (a recording keeps its frames)."""
        if self._busy:
            self._cancel.set()
            self._set_status("Cancelling…")

    def _update_buttons(self) -> None:
        idle = not self._busy
        kind, _ = self.current_source()
        self.cancel_button.setEnabled(self._busy)
        self.scan_button.setEnabled(idle and kind == SCANNER and self.options is not None)
        video = kind in (DEVICE, FILE)
        self.preview_button.setEnabled(video and idle)
        self.grab_button.setEnabled(video and idle)
        self.record_button.setEnabled(video and idle)
        self.source_combo.setEnabled(idle)

    def _set_status(self, text: str) -> None:
        self.status_label.setText(text)

    def _fail(self, message: str) -> None:
        show_error(message)
        self._set_status(message)

    def _note(self, message: str) -> None:
        show_info(message)
        self._set_status(message)

    # -- closing --------------------------------------------------------------------

    @property
    def _closed(self) -> bool:
        return self._closing.is_set()

    def shutdown(self) -> None:
        """Cancel what runs and stop the preview; results still on their way are dropped."""
        if self._closed:
            return
        self._closing.set()
        self._cancel.set()
        self.stop_preview()
        if self._progress is not None:
            self._progress.close()
            self._progress = None

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.shutdown()
        super().closeEvent(event)

    def event(self, event) -> bool:
        # napari takes a closed dock's widget out of it (setParent(None)): that is closing.
        # Closing the viewer closes no dock, so the main window is watched too.
        if event.type() == QEvent.Type.ParentChange:
            if self.parent() is not None:
                self._docked = True
                self._watch_main_window()
            elif self._docked:
                self.shutdown()
        return super().event(event)

    def _watch_main_window(self) -> None:
        window = self.parentWidget()
        while window is not None and not isinstance(window, QMainWindow):
            window = window.parentWidget()
        if window is not None and window is not self._main_window:
            if self._main_window is not None:
                self._main_window.removeEventFilter(self)
            window.installEventFilter(self)
            self._main_window = window

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        if watched is self._main_window and event.type() == QEvent.Type.Close:
            self.shutdown()
        return False
