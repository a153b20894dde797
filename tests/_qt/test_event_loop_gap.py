"""The viewer never stalls: while a big layer is encoded and sent, and while its grey
levels are inverted, the event loop keeps turning. A correctness property, not a speed:
the bound is generous (a loaded machine), far below what a GIL-holding encoder or a
main-thread inversion took (0.5 to 2 s at this size)."""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np
import pytest
from qtpy.QtCore import Qt, QTimer

from tests._qt.test_send_widget import click_and_wait, open_send_dock

#: The longest pause of the event loop allowed (the goal, on a quiet machine, is 0.1 s).
GAP_LIMIT_S = 0.3
TICK_MS = 10
SIZE = 4000


class Ticks:
    """The times a 10 ms timer fired: the longest gap between two is the longest stall."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(lambda: self.times.append(time.monotonic()))

    def longest_gap(self) -> float:
        return float(np.diff(self.times).max())


@contextmanager
def ticking(qtbot):
    ticks = Ticks()
    ticks.timer.start()
    qtbot.wait(100)
    try:
        yield ticks
        qtbot.wait(100)
    finally:
        ticks.timer.stop()
    assert len(ticks.times) > 10


def _film(viewer):
    rng = np.random.default_rng(13)
    data = rng.integers(300, 3800, (SIZE, SIZE), dtype=np.uint16)
    return viewer.add_image(data, name="film", contrast_limits=(1000, 3000))


@pytest.mark.parametrize("key", ["rle", "jpeg-ls"])
def test_sending_a_big_layer_keeps_the_viewer_turning(
    make_napari_viewer,
    qtbot,
    storescp,
    settings,
    key,
):
    settings("pacs", storescp.destination.address)
    viewer = make_napari_viewer()
    _film(viewer)
    widget = open_send_dock(viewer)
    widget.ts_combo.setCurrentIndex(widget.ts_combo.findData(key))
    with ticking(qtbot) as ticks:
        click_and_wait(qtbot, widget, widget.send_button)
    assert len(storescp.received()) == 1
    gap = ticks.longest_gap()
    print(f"{key}: longest event-loop gap {gap * 1000:.0f} ms")
    assert gap < GAP_LIMIT_S


def test_inverting_a_big_layer_keeps_the_viewer_turning(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    film = _film(viewer)
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-ezp2p", "Window/Level")
    source = film.data
    with ticking(qtbot) as ticks:
        qtbot.mouseClick(widget.invert_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: film.data is not source and widget.invert_button.isEnabled())
    assert film.data[0, 0] == int(source.min()) + int(source.max()) - int(source[0, 0])
    gap = ticks.longest_gap()
    print(f"invert: longest event-loop gap {gap * 1000:.0f} ms")
    assert gap < GAP_LIMIT_S
