"""The Capture dock's video box: preview, grab a frame and record a clip.

A preview is a generator worker (:func:`~napari_ezp2p.jobs.capture.preview_frames`)
that yields a frame at most every :attr:`VideoBox.preview_interval` seconds into one
preview layer; grabbing and recording run as the dock's work, with its progress and
Cancel.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.qt.threading import create_worker
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
)

from ..capture.clip import MAX_CLIP_BYTES, Clip, ClipTooLargeError
from ..jobs.capture import grab_frame, preview_frames, record_clip, was_cancelled
from ..jobs.outcome import Outcome, attempt

if TYPE_CHECKING:
    from .capture_widget import CaptureWidget


class VideoBox(QGroupBox):
    """Preview, Grab frame and Record (a number of frames or seconds).

    ``preview_worker`` is the running preview (tests wait on its ``finished``);
    ``max_clip_bytes`` limits a recording.
    """

    #: Frames recorded and the frames expected (0 when unknown), from the recording thread.
    record_progressed = Signal(int, int)

    def __init__(self, dock: CaptureWidget) -> None:
        super().__init__("Video")
        self.dock = dock
        self.preview_worker = None
        self.preview_interval = 0.1
        self.max_clip_bytes = MAX_CLIP_BYTES
        self._preview_stop = threading.Event()
        self._preview_layer = None
        self._last_frame: np.ndarray | None = None

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
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(bottom)
        self.setVisible(False)

        self.preview_button.clicked.connect(self.toggle_preview)
        self.grab_button.clicked.connect(self.grab)
        self.record_button.clicked.connect(self.start_record)
        self.record_unit.currentIndexChanged.connect(self._on_unit_chosen)
        self.record_progressed.connect(self._on_record_progress)

    def enable(self, ready: bool) -> None:
        """The buttons are enabled when ``ready`` (idle, a video source chosen)."""
        for button in (self.preview_button, self.grab_button, self.record_button):
            button.setEnabled(ready)

    # -- preview --------------------------------------------------------------------

    def toggle_preview(self) -> None:
        """Start the preview of the chosen video source, or stop it."""
        if self.preview_worker is not None:
            self.stop_preview()
        else:
            self.start_preview()
        self.dock.update_buttons()

    def start_preview(self) -> None:
        source = self.dock.video_source()
        if source is None or self.preview_worker is not None:
            return
        path, live, label = source
        stop = self._preview_stop = threading.Event()
        closing = self.dock.closing
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
        self.dock.set_status(f"Previewing {label}")
        worker.start()

    def stop_preview(self) -> None:
        """Stop the preview (its source is closed by the worker) and remove its layer."""
        self._preview_stop.set()
        if self.preview_worker is not None:
            self.preview_worker.quit()
            self.preview_worker = None
        layer, self._preview_layer = self._preview_layer, None
        layers = self.dock.viewer.layers
        if layer is not None and layer in layers:
            layers.remove(layer)
        self._last_frame = None
        self.preview_button.setChecked(False)
        self.preview_button.setText("Preview")

    def _forget_preview(self, worker) -> None:
        if self.preview_worker is worker and not self.dock.closed:
            self.preview_worker = None
            self.preview_button.setChecked(False)
            self.preview_button.setText("Preview")

    def _show_preview(self, frame: np.ndarray, label: str, stop: threading.Event) -> None:
        if stop.is_set() or self.dock.closed:
            return  # a frame still queued when the preview was stopped
        layer, viewer = self._preview_layer, self.dock.viewer
        if layer is not None and layer not in viewer.layers:
            self.stop_preview()  # the preview layer was deleted (or the viewer is closing)
            return
        self._last_frame = frame
        if layer is not None and layer.data.shape == frame.shape:
            layer.data = frame
            return
        if layer is not None:
            viewer.layers.remove(layer)
        self._preview_layer = viewer.add_image(
            frame,
            name=f"Preview: {label}",
            rgb=True,
            metadata={"ezp2p": {"conversion_type": "DV"}},
        )

    def _on_preview_ended(self, reason: str, stop: threading.Event) -> None:
        if reason and not stop.is_set() and not self.dock.closed:
            self.dock.fail(f"Preview stopped: {reason}")
            self.stop_preview()

    # -- grabbing -------------------------------------------------------------------

    def grab(self) -> None:
        """The frame the preview shows (else the source's first or current frame)."""
        dock = self.dock
        source = dock.video_source()
        if source is None or dock.busy:
            return
        path, live, label = source
        if self._last_frame is not None and self.preview_worker is not None:
            self._add_frame(self._last_frame.copy(), label, path)
            return
        dock.begin(f"Grabbing a frame from {label}", 0)
        worker = create_worker(attempt, grab_frame, path, live, _start_thread=False)
        worker.returned.connect(lambda outcome: self._on_grabbed(outcome, label, path))
        dock.run(worker)

    def _on_grabbed(self, outcome: Outcome, label: str, path: str) -> None:
        if self.dock.closed:
            return
        if outcome.error is not None:
            self.dock.fail(outcome.message)
            return
        self._add_frame(outcome.value.pixels[0], label, path)

    def _add_frame(self, frame: np.ndarray, label: str, path: str) -> None:
        metadata = {"source": path, "bits_stored": 8, "ezp2p": {"conversion_type": "DV"}}
        layer = self.dock.viewer.add_image(
            frame, name=f"{label} frame", rgb=True, metadata=metadata
        )
        self.dock.set_status(f"Grabbed a frame into layer {layer.name!r}")

    # -- recording ------------------------------------------------------------------

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
        dock = self.dock
        source = dock.video_source()
        if source is None or dock.busy:
            return
        path, live, label = source
        self.stop_preview()
        amount = self.record_settings()
        dock.begin(f"Recording {label}", amount.get("frames", 0))
        worker = create_worker(
            attempt,
            record_clip,
            path,
            live,
            **amount,
            progress=lambda done, total: self.record_progressed.emit(done, total or 0),
            cancel=dock.cancel_requested.is_set,
            max_bytes=self.max_clip_bytes,
            _start_thread=False,
        )
        worker.returned.connect(lambda outcome: self._on_recorded(outcome, label))
        dock.run(worker)

    def _on_record_progress(self, done: int, total: int) -> None:
        self.dock.show_progress(done, total)

    def _on_recorded(self, outcome: Outcome, label: str) -> None:
        dock = self.dock
        if dock.closed:
            return
        if outcome.error is not None:
            if was_cancelled(outcome):
                dock.note(f"Recording of {label} cancelled before any frame")
            elif isinstance(outcome.error, ClipTooLargeError):
                dock.fail(f"Clip too large: {outcome.message}")
            else:
                dock.fail(outcome.message)
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
        layer = dock.viewer.add_image(
            clip.image.pixels, name=f"{label} clip", rgb=True, metadata=metadata
        )
        done = f"{clip.frames} frames at {clip.frame_time_ms:.4g} ms into layer {layer.name!r}"
        if clip.cancelled:
            dock.note(f"Recording of {label} cancelled: kept {done}")
        else:
            dock.set_status(f"Recorded {done}")
