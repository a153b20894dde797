"""Choosing the slices of a stack in the Send dock, sent to a real storescp."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom import dcmread
from qtpy.QtCore import Qt

from napari_ezp2p._napari import menus
from napari_ezp2p._qt.send_widget import SendWidget
from tests._qt.helpers import click

STACK = np.random.default_rng(12).integers(0, 4000, size=(20, 256, 256), dtype=np.uint16)
HYPER = np.random.default_rng(4).integers(0, 255, size=(3, 5, 64, 64), dtype=np.uint8)


@pytest.fixture
def pacs(storescp, settings):
    """The storescp as the configured default destination."""
    settings("pacs", storescp.destination.address)
    return storescp


def send_dock(viewer) -> SendWidget:
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-ezp2p", "Send")
    assert isinstance(widget, SendWidget)
    return widget


def choose(qtbot, combo, text: str) -> None:
    """Open ``combo`` and click its item whose text starts with ``text``."""
    texts = [combo.itemText(row) for row in range(combo.count())]
    (row,) = [row for row, item in enumerate(texts) if item.startswith(text)]
    combo.showPopup()
    view = combo.view()
    qtbot.waitUntil(view.isVisible, timeout=5000)
    rect = view.visualRect(view.model().index(row, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: not view.isVisible(), timeout=5000)
    assert combo.currentText() == texts[row]


def enter(qtbot, spin, value: int) -> None:
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, str(value))
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert spin.value() == value


def send_and_wait(qtbot, widget: SendWidget) -> None:
    started = widget.worker
    click(qtbot, widget.send_button)
    assert widget.worker is not started
    with qtbot.waitSignal(widget.worker.finished, timeout=60000):
        pass
    qtbot.waitUntil(widget.send_button.isEnabled, timeout=5000)


def received(scp, before=()) -> list:
    return [dcmread(path) for path in scp.received() if path not in before]


def test_a_range_of_a_stack_goes_as_one_object_of_those_frames(make_napari_viewer, qtbot, pacs):
    viewer = make_napari_viewer()
    viewer.add_image(STACK, name="stack")
    widget = send_dock(viewer)
    box = widget.slices_box
    assert box.axis_combo.currentData() == 0  # a 3-D stack's only slider, preselected
    choose(qtbot, box.what_combo, "range")
    enter(qtbot, box.start_spin, 5)
    enter(qtbot, box.stop_spin, 9)
    assert "slices 5-9 of 20 along axis 0" in box.summary.text()
    send_and_wait(qtbot, widget)
    (sent,) = received(pacs)
    assert int(sent.NumberOfFrames) == 5
    np.testing.assert_array_equal(sent.pixel_array, STACK[5:10])
    assert sent.SeriesDescription == "stack, slices 5-9 of 20 along axis 0"
    assert widget.statuses()[0][0] == "stack, slices 5-9 of 20 along axis 0"


def test_the_current_slice_goes_as_one_frame(make_napari_viewer, qtbot, pacs):
    viewer = make_napari_viewer()
    viewer.add_image(STACK, name="stack")
    widget = send_dock(viewer)
    viewer.dims.set_current_step(0, 7)  # the slider moved to slice 7
    choose(qtbot, widget.slices_box.what_combo, "current")
    assert "slice 7 of 20" in widget.slices_box.summary.text()
    send_and_wait(qtbot, widget)
    (sent,) = received(pacs)
    assert int(sent.get("NumberOfFrames", 1)) == 1
    np.testing.assert_array_equal(sent.pixel_array, STACK[7])


def test_a_4d_layer_is_refused_until_an_axis_is_chosen(make_napari_viewer, qtbot, pacs):
    viewer = make_napari_viewer()
    layer = viewer.add_image(HYPER, name="hyper")
    viewer.dims.set_current_step(0, 2)
    widget = send_dock(viewer)
    box = widget.slices_box
    reason = "choose the axis to send; the other is taken at its current position"
    assert box.axis_combo.currentText() == "choose an axis…"
    assert reason in box.summary.text()

    send_and_wait(qtbot, widget)
    ((label, _where, state, message),) = widget.statuses()
    assert (label, state) == ("hyper", "failed")
    assert message.endswith(f"4D layer (3, 5, 64, 64): {reason}")
    assert received(pacs) == []
    worker = menus.send_layer_to_pacs(layer, viewer)  # the layer menu refuses it too
    with qtbot.waitSignal(worker.finished, timeout=60000):
        pass
    assert received(pacs) == []

    choose(qtbot, box.axis_combo, "axis 1")
    choose(qtbot, box.what_combo, "all")
    assert "all 5 slices along axis 1, axis 0 at 2" in box.summary.text()
    send_and_wait(qtbot, widget)
    (sent,) = received(pacs)
    assert int(sent.NumberOfFrames) == 5
    for index in range(5):
        np.testing.assert_array_equal(sent.pixel_array[index], HYPER[2, index])
    assert sent.SeriesDescription == "hyper, all 5 slices along axis 1, axis 0 at 2"

    before = set(pacs.received())
    worker = menus.send_layer_to_pacs(layer, viewer)  # the menu sends the dock's choice
    with qtbot.waitSignal(worker.finished, timeout=60000):
        pass
    (again,) = received(pacs, before)
    np.testing.assert_array_equal(again.pixel_array, HYPER[2])


def test_the_box_follows_the_active_layer_and_its_labels(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    flat = viewer.add_image(np.zeros((32, 32), np.uint8), name="flat")
    hyper = viewer.add_image(HYPER, name="hyper")
    viewer.dims.axis_labels = ("t", "z", "y", "x")
    widget = send_dock(viewer)
    box = widget.slices_box
    assert [box.axis_combo.itemText(i) for i in range(box.axis_combo.count())] == [
        "choose an axis…",
        "axis 0 (t)",
        "axis 1 (z)",
    ]
    choose(qtbot, box.axis_combo, "axis 1")
    choose(qtbot, box.what_combo, "range")
    assert (box.start_spin.maximum(), box.stop_spin.value()) == (4, 4)
    viewer.layers.selection.active = flat
    assert not box.axis_combo.isEnabled()
    assert "flat: one image, sent whole" in box.summary.text()
    viewer.layers.selection.active = hyper  # its choice was kept
    assert (box.axis_combo.currentData(), box.what_combo.currentData()) == (1, "range")
