"""The Capture dock's scanner box: what the chosen scanner offers, and scanning with it.

The scanner's options are asked in a worker when it is chosen; a scan (or every page of
the document feeder, each a layer as it comes) runs as the dock's work, with its
progress and Cancel.
"""

from __future__ import annotations

import itertools
from functools import partial
from typing import TYPE_CHECKING, Any

from napari.qt.threading import create_worker
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
)

from .._napari.reader import limits_from_data
from ..capture.scanner import ScannerOptions, feeder_source, scanner_options
from ..capture.scanning import scan
from ..core.image import SourceImage
from ..jobs.capture import feeder_pages, was_cancelled
from ..jobs.outcome import Outcome, attempt

if TYPE_CHECKING:
    from .capture_widget import CaptureWidget

#: The resolution chosen first when the scanner offers it (dpi).
DEFAULT_DPI = 300.0


class ScannerBox(QGroupBox):
    """Resolution, mode, depth, type, source, feeder and area of a scan, and Scan.

    ``options`` are what the chosen scanner offers (None until it has said),
    ``options_worker`` the worker asking it; ``extra_scan_options`` are further SANE
    options by name for every scan.
    """

    #: Fraction of a scan done, from the scanning thread.
    scan_progressed = Signal(float)

    def __init__(self, dock: CaptureWidget) -> None:
        super().__init__("Scanner")
        self.dock = dock
        self.device: str | None = None  # the scanner chosen
        self.options: ScannerOptions | None = None
        self.options_worker = None
        self.extra_scan_options: dict[str, object] = {}

        form = QFormLayout(self)
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
        self.setVisible(False)

        self.scan_button.clicked.connect(self.start_scan)
        self.area_check.toggled.connect(self._enable_area)
        self.feeder_check.toggled.connect(self._enable_source)
        self.scan_progressed.connect(self._on_scan_progress)

    def enable(self, ready: bool) -> None:
        """Scan is enabled when ``ready`` (idle, a scanner chosen) and its options known."""
        self.scan_button.setEnabled(ready and self.options is not None)

    # -- the scanner's options ------------------------------------------------------

    def choose(self, device: str | None) -> None:
        """The scanner ``device`` was chosen (None: no scanner): ask what it offers."""
        self.device = device
        self.options = None
        self.scan_button.setEnabled(False)
        if device is not None:
            self._load_options(device)

    def _load_options(self, device: str) -> None:
        self.dock.set_status(f"Asking {device} what it offers…")
        worker = create_worker(attempt, scanner_options, device, _start_thread=False)
        worker.returned.connect(lambda outcome: self._on_options(device, outcome))
        worker.finished.connect(lambda: setattr(self, "options_worker", None))
        self.options_worker = worker
        worker.start()

    def _on_options(self, device: str, outcome: Outcome) -> None:
        if self.dock.closed or self.device != device:
            return  # another source was chosen meanwhile
        if outcome.error is not None:
            self.dock.fail(f"Scanner {device}: {outcome.message}")
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
        self.dock.set_status(f"Ready to scan with {device}")
        self.dock.update_buttons()

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

    # -- scanning -------------------------------------------------------------------

    def scan_settings(self) -> dict[str, Any]:
        """The keyword arguments of capture.scanning.scan the form says."""
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
        device, dock = self.device, self.dock
        if device is None or self.options is None or dock.busy:
            return
        settings = self.scan_settings()
        dock.begin(f"Scanning with {device}", 100)
        watch = {"progress": self.scan_progressed.emit, "cancel": dock.cancel_requested.is_set}
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
        dock.run(worker)

    def _on_scan_progress(self, fraction: float) -> None:
        self.dock.show_progress(round(fraction * 100), 100)

    def _on_scanned(self, device: str, settings: dict, outcome: Outcome, name: str = "") -> None:
        dock = self.dock
        if dock.closed:
            return
        if outcome.error is not None:
            if was_cancelled(outcome) and dock.cancel_requested.is_set():
                dock.note(f"Scan of {device} cancelled")
            else:
                dock.fail(outcome.message)
            return
        image: SourceImage = outcome.value
        fields = {"conversion_type": settings["conversion_type"]}
        if image.pixel_spacing is not None:
            fields["pixel_spacing"] = tuple(image.pixel_spacing)
        metadata = {"source": device, "bits_stored": image.bits_stored, "ezp2p": fields}
        if image.is_colour:
            layer = dock.viewer.add_image(
                image.pixels[0], name=name or device, rgb=True, metadata=metadata
            )
        else:
            data = image.pixels[0, :, :, 0]
            layer = dock.viewer.add_image(
                data,
                name=name or device,
                rgb=False,
                colormap="gray",
                contrast_limits=limits_from_data(data),
                metadata=metadata,
            )
        dock.set_status(
            f"Scanned {image.columns} × {image.rows} at {settings['resolution_dpi']:g} dpi "
            f"into layer {layer.name!r}"
        )
