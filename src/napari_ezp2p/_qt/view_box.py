"""The Send dock's "Send what you see" box: the visible layers rendered as the canvas
shows them (:mod:`napari_ezp2p._napari.rendering`), sent with the dock's destinations
and transfer syntax.

The rendering needs the GL canvas, so it runs on the main thread (one screenshot per
slice); encoding and sending run in the dock's worker.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from napari.utils.notifications import show_error
from qtpy.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QPushButton

from .._napari.destination_choice import read_config
from .._napari.rendering import (
    RenderError,
    chosen_slices,
    every_slice,
    first_hidden_axis,
    view_send,
)
from .._napari.sending import metadata_for_send

if TYPE_CHECKING:
    from .send_widget import SendWidget

CURRENT_SLICE = "current slice"
CHOSEN_SLICES = "the slices chosen above"
EVERY_SLICE = "every slice"


class ViewBox(QGroupBox):
    """Render the view (the current slice, or every slice of the first non-displayed
    axis) and send it as an RGB Secondary Capture through ``dock``."""

    def __init__(self, dock: SendWidget) -> None:
        super().__init__("Send what you see")
        self.dock = dock
        self.slices_combo = QComboBox()
        self.slices_combo.setToolTip("Which slices to render: one frame each")
        self.send_button = QPushButton("Send what you see")
        self.send_button.setToolTip(
            "Render the visible layers (colours, labels, shapes, points, text) at the "
            "image's own resolution and send that as a colour image"
        )
        layout = QHBoxLayout(self)
        layout.addWidget(self.slices_combo, stretch=1)
        layout.addWidget(self.send_button)
        self._fill_choices()
        self.send_button.clicked.connect(self.send)
        dims = dock.viewer.dims.events
        for event in (dims.ndim, dims.ndisplay, dims.order):
            event.connect(self._fill_choices)

    def _fill_choices(self, event=None) -> None:
        chosen = self.slices_combo.currentData()
        self.slices_combo.clear()
        self.slices_combo.addItem(CURRENT_SLICE, CURRENT_SLICE)
        self.slices_combo.addItem(CHOSEN_SLICES, CHOSEN_SLICES)
        axis = first_hidden_axis(self.dock.viewer)
        if axis is not None:
            self.slices_combo.addItem(f"{EVERY_SLICE} of axis {axis}", EVERY_SLICE)
        self.slices_combo.setCurrentIndex(max(self.slices_combo.findData(chosen), 0))

    def send(self) -> None:
        """Render the chosen slices now, then send them off the event loop."""
        dock = self.dock
        read_config(dock.session)  # the ``ezp2p`` command may have changed it
        if dock.session.config_problem:
            show_error(f"Cannot send: {dock.destination_hint.text()}")
            return
        axis, indices = None, None
        try:
            if self.slices_combo.currentData() == EVERY_SLICE:
                axis, indices = every_slice(dock.viewer)
            elif self.slices_combo.currentData() == CHOSEN_SLICES:
                axis, indices = chosen_slices(dock.viewer)
            job = view_send(
                dock.viewer,
                partial(metadata_for_send, dock.session),
                tuple(dock.checked_destinations()),
                dock.ts_combo.currentData() or "",
                axis,
                indices,
            )
        except RenderError as error:
            show_error(f"Cannot send what you see: {error}")
            return
        dock.start_send(job)
