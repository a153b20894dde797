"""The Send dock's slices box: which slices of the active nD image layer to send.

A thin view over :mod:`napari_ezp2p._napari.slices`: the axis (the layer's slider axes,
named by napari's axis labels), the current slice, a range or all of it, and the range's
ends, 0-based as napari's sliders show them. What is chosen is remembered for the layer
(the Send dock and "Send layer to PACS" send it), and the line under the controls says
what will go, or why it cannot.
"""

from __future__ import annotations

from napari.layers import Image
from qtpy.QtWidgets import QComboBox, QGridLayout, QLabel, QSpinBox, QWidget

from .._napari.slices import (
    WHATS,
    SliceChoice,
    SliceError,
    choice_for,
    current_position,
    plan_slices,
    remember_choice,
    slice_axes,
)

CHOOSE_AXIS = "choose an axis…"
WHAT_LABELS = {"current": "current slice", "range": "range", "all": "all"}
ZERO_BASED = "0-based, as napari's sliders show them; both ends are sent"


class SlicesBox(QWidget):
    """Axis, current/range/all and the range, for the viewer's active image layer."""

    def __init__(self, viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.layer: Image | None = None
        self._showing = False

        self.axis_combo = QComboBox()
        self.axis_combo.setToolTip("The slider axis to send along")
        self.what_combo = QComboBox()
        for what in WHATS:
            self.what_combo.addItem(WHAT_LABELS[what], what)
        self.start_spin = QSpinBox()
        self.stop_spin = QSpinBox()
        for spin, end in ((self.start_spin, "First"), (self.stop_spin, "Last")):
            spin.setToolTip(f"{end} slice of the range ({ZERO_BASED})")
        self.summary = QLabel()
        self.summary.setWordWrap(True)

        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.axis_combo, 0, 0)
        layout.addWidget(self.what_combo, 0, 1)
        layout.addWidget(self.start_spin, 1, 0)
        layout.addWidget(self.stop_spin, 1, 1)
        layout.addWidget(self.summary, 2, 0, 1, 2)

        for combo in (self.axis_combo, self.what_combo):
            combo.currentIndexChanged.connect(self._on_edited)
        for spin in (self.start_spin, self.stop_spin):
            spin.valueChanged.connect(self._on_edited)
        viewer.layers.selection.events.active.connect(self.show_active_layer)
        viewer.dims.events.current_step.connect(self._show_summary)
        viewer.dims.events.range.connect(self.show_active_layer)
        viewer.dims.events.axis_labels.connect(self.show_active_layer)
        self.show_active_layer()

    # -- the model -> the widgets ---------------------------------------------------

    def show_active_layer(self, event=None) -> None:
        """Show the active image layer's choice (its default when none was made)."""
        active = self.viewer.layers.selection.active
        self.layer = active if isinstance(active, Image) else None
        axes = self._axes()
        self._showing = True
        try:
            self.axis_combo.clear()
            if len(axes) > 1:
                self.axis_combo.addItem(CHOOSE_AXIS, None)
            labels = self._axis_labels() if axes else []
            for axis in axes:
                self.axis_combo.addItem(f"axis {axis} ({labels[axis]})", axis)
            choice = (choice_for(self.layer) if self.layer is not None else None) or (
                SliceChoice(axes[0] if len(axes) == 1 else None, "all")
            )
            self.axis_combo.setCurrentIndex(max(self.axis_combo.findData(choice.axis), 0))
            self.what_combo.setCurrentIndex(self.what_combo.findData(choice.what))
            self._set_range_limits()
            self.start_spin.setValue(choice.start)
            self.stop_spin.setValue(choice.stop if choice.what == "range" else self._length() - 1)
        finally:
            self._showing = False
        for widget in (self.axis_combo, self.what_combo):
            widget.setEnabled(bool(axes))
        self._enable_range()
        self._show_summary()

    def _show_summary(self, event=None) -> None:
        if self.layer is None:
            self.summary.setText("Select an image layer to choose its slices.")
        elif not self._axes():
            self.summary.setText(f"{self.layer.name}: one image, sent whole.")
        else:
            try:
                plan = plan_slices(
                    self._shape(),
                    rgb=self.layer.rgb,
                    choice=self.choice(),
                    position=current_position(self.layer, self.viewer),
                )
                what = plan.description or f"all {len(plan.indices)} slices"
                self.summary.setText(f"{self.layer.name}: {what} ({ZERO_BASED}).")
            except SliceError as refused:
                self.summary.setText(f"{self.layer.name}: {refused}.")

    # -- the widgets -> the model ---------------------------------------------------

    def choice(self) -> SliceChoice:
        """The choice the widgets show."""
        return SliceChoice(
            self.axis_combo.currentData(),
            self.what_combo.currentData() or "all",
            self.start_spin.value(),
            self.stop_spin.value(),
        )

    def _on_edited(self, *args) -> None:
        if self._showing or self.layer is None:
            return
        if self.sender() is self.axis_combo:
            self._showing = True
            try:
                self._set_range_limits()
                self.start_spin.setValue(0)
                self.stop_spin.setValue(self._length() - 1)
            finally:
                self._showing = False
        self._enable_range()
        remember_choice(self.layer, self.choice())
        self._show_summary()

    # -- helpers --------------------------------------------------------------------

    def _shape(self) -> tuple[int, ...]:
        data = self.layer.data[0] if self.layer.multiscale else self.layer.data
        return tuple(data.shape)

    def _axes(self) -> tuple[int, ...]:
        return () if self.layer is None else slice_axes(self._shape(), self.layer.rgb)

    def _axis_labels(self) -> list[str]:
        """napari's label of each layer axis (the viewer's last axes are the layer's)."""
        labels = list(self.viewer.dims.axis_labels)
        return labels[len(labels) - self.layer.ndim :]

    def _length(self) -> int:
        axis = self.axis_combo.currentData()
        return self._shape()[axis] if axis is not None else 1

    def _set_range_limits(self) -> None:
        for spin in (self.start_spin, self.stop_spin):
            spin.setRange(0, max(self._length() - 1, 0) if self.layer is not None else 0)

    def _enable_range(self) -> None:
        in_range = self.what_combo.currentData() == "range" and bool(self._axes())
        self.start_spin.setEnabled(in_range)
        self.stop_spin.setEnabled(in_range)
