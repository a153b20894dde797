"""The Capture dock: scanners, video devices and video files straight into image layers.

A thin face on :mod:`napari_ezp2p.jobs.capture` and :mod:`napari_ezp2p.capture`. The
source list holds the SANE scanners (listed in a ``thread_worker``: SANE may take
seconds to look at the network), the V4L2 video devices and the video files chosen with
"Video file…". The chosen source shows its box: :class:`~._qt.scanner_box.ScannerBox`
or :class:`~._qt.video_box.VideoBox`. Every scan, grab and recording runs in a
``thread_worker`` with a progress bar (in the dock and in napari's activity area) and a
Cancel button: the capture functions ask a ``cancel`` callable that reads a flag the
button sets.

What is captured becomes an image layer whose ``metadata["ezp2p"]`` holds Metadata fields
(``conversion_type``; ``pixel_spacing`` for scans; ``frame_time_ms`` for clips), which the
writer and the Send dock turn into Nominal Scanned Pixel Spacing or Frame Time.

Errors (no device, a busy one, a clip over the size limit) and cancellations are napari
notifications and the dock's status line; the viewer never waits for a device. Closing
the dock cancels what runs and stops the preview (which closes its device).
"""

from __future__ import annotations

import threading
from pathlib import Path

from napari.qt.threading import create_worker
from napari.utils import progress
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QEvent
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .._napari.progress import Unnested
from ..capture.devices import VideoDevice, list_video_devices
from ..capture.scanner import ScannerInfo, list_scanners
from ..capture.video import VIDEO_SUFFIXES
from ..jobs.outcome import Outcome, attempt
from .dock_tabs import tabify_our_docks
from .scanner_box import ScannerBox
from .video_box import VideoBox

#: Kinds of source, the prefix of each source entry's data ("scanner:test:0").
SCANNER, DEVICE, FILE, PICK = "scanner", "device", "file", "pick"


class CaptureWidget(QWidget):
    """Scan, grab a video frame or record a clip into a new image layer.

    ``worker`` is the last scan/grab/record worker and ``list_worker`` the scanner
    listing (tests wait on their ``finished``); ``scanner_box`` and ``video_box`` hold
    the settings and workers of each kind of source.
    """

    _docked = False  # set once the widget has had a parent (a dock)
    _main_window = None  # the viewer's window, whose closing closes the dock too

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        tabify_our_docks(self)
        self.viewer = napari_viewer
        self.worker = None
        self.list_worker = None
        self._scanners: list[ScannerInfo] = []
        self._devices: list[VideoDevice] = []
        self._files: list[str] = []
        self._source = ""  # data of the chosen entry
        #: Set by Cancel; the running scan or recording asks it.
        self.cancel_requested = threading.Event()
        self._progress: progress | None = None
        self._progress_now = (0, 0)  # (done, total) of the running work
        self._redraw_progress = Unnested(self._draw_progress)
        self._busy = False
        #: Set when the dock closes or its Qt object is destroyed (then nothing of the
        #: dock may be touched): workers check it, results arriving later are dropped.
        self.closing = threading.Event()
        self.destroyed.connect(
            lambda *_, closing=self.closing, cancel=self.cancel_requested: (
                closing.set(),
                cancel.set(),
            )
        )

        self.source_combo = QComboBox()
        self.source_combo.setToolTip("Scanners (SANE), video devices (V4L2) and video files")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Look for scanners and video devices again")
        sources = QHBoxLayout()
        sources.addWidget(self.source_combo, 1)
        sources.addWidget(self.refresh_button)

        self.scanner_box = ScannerBox(self)
        self.video_box = VideoBox(self)

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

        self._fill_sources()
        self.refresh()

    # -- sources --------------------------------------------------------------------

    def refresh(self) -> None:
        """List the video devices now and the scanners in a worker."""
        try:
            self._devices = list_video_devices()
        except OSError as error:  # /dev unreadable: no devices rather than no dock
            self._devices = []
            self.set_status(f"Cannot list video devices: {error}")
        self._fill_sources()
        if self.list_worker is not None:
            return  # a listing is running: it fills the list when it ends
        self.set_status("Looking for scanners…")
        self.refresh_button.setEnabled(False)
        worker = create_worker(attempt, list_scanners, _start_thread=False)
        worker.returned.connect(self._on_scanners_listed)
        worker.finished.connect(self._on_listing_finished)
        self.list_worker = worker
        worker.start()

    def _on_scanners_listed(self, outcome: Outcome) -> None:
        if self.closed:
            return
        if outcome.error is not None:
            self._scanners = []  # a normal state (no SANE here): said in the dock, no pop-up
            self.set_status(f"No scanners: {outcome.message}")
        else:
            self._scanners = list(outcome.value)
            self.set_status(
                f"{len(self._scanners)} scanner(s), {len(self._devices)} video device(s)"
            )
        self._fill_sources()

    def _on_listing_finished(self) -> None:
        self.list_worker = None
        if not self.closed:
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

    def video_source(self) -> tuple[str, bool, str] | None:
        """(path, live, label) of the chosen video source, or None."""
        kind, name = self.current_source()
        if kind == DEVICE:
            label = next((d.name for d in self._devices if d.path == name), name)
            return name, True, label
        if kind == FILE:
            return name, False, Path(name).stem
        return None

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
        self.video_box.stop_preview()
        self._source = data
        kind, name = self.current_source()
        self.scanner_box.setVisible(kind == SCANNER)
        self.video_box.setVisible(kind in (DEVICE, FILE))
        self.scanner_box.choose(name if kind == SCANNER else None)
        self.update_buttons()

    # -- running work ---------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Whether a scan, grab or recording runs."""
        return self._busy

    def begin(self, description: str, total: int) -> None:
        """Show work of ``total`` steps (0: unknown) starting; :meth:`run` starts it."""
        self._busy = True
        self.cancel_requested.clear()
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(0)
        self.progress_bar.setVisible(True)
        self._progress = progress(total=total, desc=description)
        self.set_status(f"{description}…")
        self.update_buttons()

    def run(self, worker) -> None:
        """Start ``worker`` (not started yet) as the dock's running work."""
        self.worker = worker
        worker.finished.connect(self._on_finished)
        worker.start()

    def show_progress(self, done: int, total: int) -> None:
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
        if self.closed:  # the dock's widgets may be gone already
            return
        self.progress_bar.setVisible(False)
        self.update_buttons()

    def cancel(self) -> None:
        """Ask the running scan or recording to stop (a recording keeps its frames)."""
        if self._busy:
            self.cancel_requested.set()
            self.set_status("Cancelling…")

    def update_buttons(self) -> None:
        idle = not self._busy
        kind, _ = self.current_source()
        self.cancel_button.setEnabled(self._busy)
        self.scanner_box.enable(idle and kind == SCANNER)
        self.video_box.enable(idle and kind in (DEVICE, FILE))
        self.source_combo.setEnabled(idle)

    def set_status(self, text: str) -> None:
        self.status_label.setText(text)

    def fail(self, message: str) -> None:
        """``message`` as an error notification and in the status line."""
        show_error(message)
        self.set_status(message)

    def note(self, message: str) -> None:
        """``message`` as an information notification and in the status line."""
        show_info(message)
        self.set_status(message)

    # -- closing --------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.closing.is_set()

    def shutdown(self) -> None:
        """Cancel what runs and stop the preview; results still on their way are dropped."""
        if self.closed:
            return
        self.closing.set()
        self.cancel_requested.set()
        self.video_box.stop_preview()
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
