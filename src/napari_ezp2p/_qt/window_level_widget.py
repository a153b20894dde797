"""The Window/Level dock: centre and width of the active grey layer, with a histogram.

The window is the layer's ``contrast_limits`` and nothing else: centre = (low + high) / 2,
width = high - low. That is what the Send dock and the writer put in Window Center and
Window Width (``layer_image(contrast_limits=...)``), so what is seen is what is sent.

"Invert" is for films scanned so that they look like MONOCHROME1 (dense = bright). It
rewrites the layer's pixels as ``min + max - value`` (same dtype, same range, so pressing
it again gives the original back exactly) and mirrors the contrast limits. A colormap
such as ``gray_r`` would only change the screen: our objects are MONOCHROME2 and carry
the pixels, so the inversion has to be in the pixels for the PACS to show it too.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from napari.layers import Image
from qtpy.QtCore import QRectF, Qt
from qtpy.QtGui import QPainter, QPalette, QPen
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from ._common import run_in_thread
from .dock_tabs import tabify_our_docks

#: Film presets as (centre, width) in fractions of the layer's data range. For a 12-bit
#: scan (0..4095) "Film: normal" is centre 2048, width 3276.
FILM_PRESETS: dict[str, tuple[float, float]] = {
    "Film: normal": (0.50, 0.80),  # a well exposed film: most of the range
    "Film: soft tissue": (0.45, 0.35),  # narrow, mid-greys spread out
    "Film: dense": (0.25, 0.50),  # over-exposed (dark) film: the low half stretched
    "Film: light": (0.70, 0.60),  # under-exposed (pale) film: the high part stretched
}
FULL_RANGE = "Full range"
AUTO = "Auto (0.5–99.5 %)"
AUTO_PERCENTILES = (0.5, 99.5)
#: Above this many pixels, statistics are taken on an even subsample.
SAMPLE_LIMIT = 4_000_000
HISTOGRAM_BINS = 128
#: Slider steps when the data is not integer (or its range is wider than this).
SLIDER_STEPS = 4096


def data_range(data) -> tuple[float, float]:
    """The range the sliders cover: ``0..2**bits - 1`` for unsigned integers (the
    dtype's range for 8-bit data, the smallest 8/10/12/14/16-bit range holding the
    maximum for 16-bit film scans), else the data's minimum and maximum."""
    array = np.asarray(data)
    if array.size == 0:
        return 0.0, 1.0
    if array.dtype == np.uint8:
        return 0.0, 255.0
    high = float(array.max())
    if np.issubdtype(array.dtype, np.unsignedinteger):
        bits = next((b for b in (8, 10, 12, 14, 16) if high <= 2**b - 1), 8 * array.itemsize)
        return 0.0, float(2**bits - 1)
    low = float(array.min())
    return (low, high) if high > low else (low, low + 1.0)


def sample(data) -> np.ndarray:
    """The data's values (an even subsample beyond SAMPLE_LIMIT), flattened."""
    array = np.asarray(data)
    step = max(1, int(np.ceil(array.size / SAMPLE_LIMIT)))
    return array.reshape(-1)[::step]


def auto_limits(data) -> tuple[float, float]:
    """The 0.5 and 99.5 percentiles of the data (a window of at least 1)."""
    low, high = (float(v) for v in np.percentile(sample(data), AUTO_PERCENTILES))
    return (low, high) if high > low else (low, low + 1.0)


def preset_limits(name: str, data_low: float, data_high: float) -> tuple[float, float]:
    """The contrast limits of a film preset over the range ``data_low..data_high``."""
    centre, width = FILM_PRESETS[name]
    span = data_high - data_low
    c, w = data_low + centre * span, width * span
    return c - w / 2, c + w / 2


class Histogram(QWidget):
    """Bars of the data's histogram (log counts) and the window drawn over them, in the
    palette's colours (napari's theme)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.counts = np.zeros(0)
        self.span = (0.0, 1.0)
        self.window: tuple[float, float] | None = None
        self.setMinimumHeight(70)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_data(self, data, span: tuple[float, float]) -> None:
        self.span = span
        if data is None:
            self.counts = np.zeros(0)
        else:
            self.counts, _ = np.histogram(sample(data), bins=HISTOGRAM_BINS, range=span)
        self.update()

    def set_window(self, window: tuple[float, float] | None) -> None:
        self.window = window
        self.update()

    def _x(self, value: float, width: float) -> float:
        low, high = self.span
        return (value - low) / ((high - low) or 1.0) * width

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        palette = self.palette()
        rect = self.rect()
        w, h = float(rect.width()), float(rect.height())
        painter.fillRect(rect, palette.color(QPalette.ColorRole.Base))
        if self.window is not None:
            left, right = (self._x(v, w) for v in self.window)
            shade = palette.color(QPalette.ColorRole.Highlight)
            shade.setAlpha(70)
            painter.fillRect(QRectF(left, 0, right - left, h), shade)
        if self.counts.size:
            heights = np.log1p(self.counts.astype(float))
            top = heights.max() or 1.0
            bar = w / self.counts.size
            colour = palette.color(QPalette.ColorRole.Text)
            for index, value in enumerate(heights):
                if value:
                    bar_h = value / top * (h - 2)
                    painter.fillRect(QRectF(index * bar, h - bar_h, bar, bar_h), colour)
        if self.window is not None:
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight), 2))
            for value in self.window:
                x = self._x(value, w)
                painter.drawLine(int(x), 0, int(x), int(h))
        painter.end()


class _ValueControl(QWidget):
    """A slider and a spin box showing one value, in data units."""

    def __init__(self, on_change) -> None:
        super().__init__()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.spin = QDoubleSpinBox()
        self.spin.setKeyboardTracking(False)
        self._on_change = on_change
        self._low, self._step = 0.0, 1.0
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        self.slider.valueChanged.connect(self._slid)
        self.spin.valueChanged.connect(self._typed)

    def set_range(self, low: float, high: float, integer: bool) -> None:
        steps = int(high - low) if integer and high - low <= 65535 else SLIDER_STEPS
        self._low, self._step = low, (high - low) / max(steps, 1)
        for widget in (self.slider, self.spin):
            widget.blockSignals(True)
        self.slider.setRange(0, max(steps, 1))
        self.spin.setDecimals(0 if integer else 4)
        self.spin.setRange(low, high)
        self.spin.setSingleStep(max(self._step, 1.0) if integer else self._step)
        for widget in (self.slider, self.spin):
            widget.blockSignals(False)

    def value(self) -> float:
        return self.spin.value()

    def show_value(self, value: float) -> None:
        """Show ``value`` without telling anyone."""
        for widget in (self.slider, self.spin):
            widget.blockSignals(True)
        self.spin.setValue(value)
        self.slider.setValue(round((value - self._low) / self._step))
        for widget in (self.slider, self.spin):
            widget.blockSignals(False)

    def _slid(self, position: int) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(self._low + position * self._step)
        self.spin.blockSignals(False)
        self._on_change()

    def _typed(self, value: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(round((value - self._low) / self._step))
        self.slider.blockSignals(False)
        self._on_change()


class WindowLevelWidget(QWidget):
    """Centre/width of the active image layer's contrast limits, presets, invert."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        tabify_our_docks(self)
        self.viewer = napari_viewer
        self.layer: Image | None = None
        self.span = (0.0, 1.0)
        self.inverting = None  # the worker of the last "Invert grey levels"

        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.histogram = Histogram()
        self.centre = _ValueControl(self._on_controls)
        self.width = _ValueControl(self._on_controls)
        self.preset_combo = QComboBox()
        self.preset_combo.addItem("Presets…")
        self.preset_combo.addItems([FULL_RANGE, AUTO, *FILM_PRESETS])
        self.preset_combo.setToolTip("Film presets are fractions of the data range")
        self.invert_button = QPushButton("Invert grey levels")
        self.invert_button.setToolTip(
            "For films that look like negatives (MONOCHROME1): rewrites the layer's "
            "pixels as min + max - value, so the PACS shows the same. Press again to undo."
        )
        form = QFormLayout()
        form.addRow("Centre", self.centre)
        form.addRow("Width", self.width)
        form.addRow("Preset", self.preset_combo)
        self.controls = QWidget()
        self.controls.setLayout(form)
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addWidget(self.histogram)
        layout.addWidget(self.controls)
        layout.addWidget(self.invert_button)
        layout.addStretch(1)

        self.preset_combo.currentIndexChanged.connect(self._on_preset)
        self.invert_button.clicked.connect(self.invert)
        napari_viewer.layers.selection.events.active.connect(self._on_active)
        self._on_active()

    # -- following the active layer -------------------------------------------------

    def _on_active(self, event=None) -> None:
        layer = self.viewer.layers.selection.active
        if self.layer is not None:
            self.layer.events.contrast_limits.disconnect(self._show_limits)
            self.layer.events.data.disconnect(self._on_data)
        self.layer = layer if isinstance(layer, Image) else None
        if self.layer is not None:
            self.layer.events.contrast_limits.connect(self._show_limits)
            self.layer.events.data.connect(self._on_data)
        self._on_data()

    def _on_data(self, event=None) -> None:
        layer = self.layer
        grey = layer is not None and not layer.rgb
        self.controls.setEnabled(grey)
        self.invert_button.setEnabled(grey)
        if layer is None:
            self.hint.setText("Select an image layer.")
            self.histogram.set_data(None, (0.0, 1.0))
            self.histogram.set_window(None)
            return
        if not grey:
            self.hint.setText(
                f"{layer.name}: a colour layer. Window/level applies to grey images only; "
                "colour images are sent as they are."
            )
            self.histogram.set_data(None, (0.0, 1.0))
            self.histogram.set_window(None)
            return
        self.hint.setText(layer.name)
        data = np.asarray(layer.data)
        self.span = data_range(data)
        integer = np.issubdtype(data.dtype, np.integer)
        low, high = self.span
        self.centre.set_range(low, high, integer)
        self.width.set_range(1.0 if integer else 0.0, high - low, integer)
        self.histogram.set_data(data, self.span)
        self._show_limits()

    def _show_limits(self, event=None) -> None:
        if self.layer is None or self.layer.rgb:
            return
        low, high = (float(v) for v in self.layer.contrast_limits)
        self.centre.show_value((low + high) / 2)
        self.width.show_value(high - low)
        self.histogram.set_window((low, high))

    # -- changing the window --------------------------------------------------------

    def _on_controls(self) -> None:
        centre, width = self.centre.value(), max(self.width.value(), 1e-6)
        self.set_limits(centre - width / 2, centre + width / 2)

    def set_limits(self, low: float, high: float) -> None:
        """Set the active layer's contrast limits (the window that will be written)."""
        if self.layer is None or self.layer.rgb or not high > low:
            return
        self.layer.contrast_limits = (low, high)

    def apply_preset(self, name: str) -> None:
        """Apply "Full range", "Auto (0.5–99.5 %)" or one of FILM_PRESETS."""
        if self.layer is None or self.layer.rgb:
            return
        if name == FULL_RANGE:
            self.set_limits(*self.span)
        elif name == AUTO:
            self.set_limits(*auto_limits(self.layer.data))
        elif name in FILM_PRESETS:
            self.set_limits(*preset_limits(name, *self.span))

    def _on_preset(self, index: int) -> None:
        if index > 0:  # then back to "Presets…", so that a preset can be chosen again
            self.apply_preset(self.preset_combo.itemText(index))
            self.preset_combo.setCurrentIndex(0)

    def invert(self) -> None:
        """Invert the active grey layer's pixels (``min + max - value``) and mirror its
        contrast limits; pressing again restores the original exactly. The pixels are
        computed in a thread (``self.inverting`` is its worker), then set on the layer
        here; the button waits meanwhile."""
        layer = self.layer
        if layer is None or layer.rgb:
            return
        data = np.asarray(layer.data)
        if data.size == 0:
            return
        self.invert_button.setEnabled(False)
        self.inverting = run_in_thread(
            inverted,
            data,
            what="Invert grey levels",
            on_done=partial(self._set_inverted, layer, data),
            on_error=lambda _message: self._on_data(),
            owner=self,
        )

    def _set_inverted(self, layer: Image, source: np.ndarray, result) -> None:
        pixels, total = result
        if layer.data is not source:  # changed meanwhile: that change stands
            self._on_data()
            return
        c_low, c_high = (float(v) for v in layer.contrast_limits)
        layer.data = pixels
        layer.contrast_limits = (total - c_high, total - c_low)
        self._on_data()


def inverted(data: np.ndarray) -> tuple[np.ndarray, float]:
    """``min + max - data`` in the dtype of ``data`` (not empty), and ``min + max``."""
    low, high = data.min(), data.max()
    if np.issubdtype(data.dtype, np.integer):
        total = int(low) + int(high)
        return (total - data.astype(np.int64)).astype(data.dtype), total
    total = float(low) + float(high)
    return (total - data).astype(data.dtype), total
