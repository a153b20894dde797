"""What the dock tests do as a user would: open a dock, click, type."""

from __future__ import annotations

from typing import TypeVar

from qtpy.QtCore import Qt

Dock = TypeVar("Dock")


def open_dock(make_napari_viewer, name: str, kind: type[Dock]) -> tuple[object, Dock]:
    """A new viewer and our dock ``name`` in it, checked to be a ``kind``."""
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-ezp2p", name)
    assert isinstance(widget, kind)
    return viewer, widget


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def type_into(qtbot, edit, text: str) -> None:
    edit.clear()
    qtbot.keyClicks(edit, text)
