"""Every dock of ours open at once fits a 1280×800 screen: they share one tab stack, and
each, raised, is at least its minimum height and shows its key button."""

from __future__ import annotations

import pytest
from qtpy.QtWidgets import QApplication, QScrollArea

from napari_ezp2p._qt.dock_tabs import is_ours

#: Each dock and the button a user comes to it for.
KEY_BUTTONS = {
    "Study": "pacs_button",
    "Destinations": "save_button",
    "Send": "send_button",
    "Window/Level": "invert_button",
    "Capture": "refresh_button",
    "Outbox": "retry_button",
}


def content_of(widget):
    """What the dock shows: the widget in its scroll area, if it has one."""
    scroll = widget.findChild(QScrollArea)
    return scroll.widget() if scroll is not None else widget


@pytest.mark.parametrize("first", ["Window/Level", "Study", "Outbox"])
def test_all_docks_open_at_1280x800_each_usable(
    home, make_napari_viewer, qtbot, first, sane_test_backend
):
    # sane_test_backend: the Capture dock lists scanners, so SANE starts with its config
    viewer = make_napari_viewer(show=True)
    main = viewer.window._qt_window
    main.resize(1280, 800)
    names = [first, *(name for name in KEY_BUTTONS if name != first)]
    docks = {}
    for name in names:
        docks[name] = viewer.window.add_plugin_dock_widget("napari-ezp2p", name)
        qtbot.wait(10)
    qtbot.waitUntil(lambda: all(is_ours(dock) for dock, _ in docks.values()))
    QApplication.processEvents()
    assert main.height() <= 800, "the docks made the window taller than the screen"

    for name, (dock, widget) in docks.items():
        dock.raise_()
        qtbot.waitUntil(dock.isVisible)
        QApplication.processEvents()
        content = content_of(widget)
        assert len(main.tabifiedDockWidgets(dock)) == len(docks) - 1, name
        assert dock.height() >= dock.minimumSizeHint().height(), name
        assert content.height() >= content.minimumSizeHint().height(), name
        button = getattr(widget, KEY_BUTTONS[name])
        assert button.isVisible() and not button.visibleRegion().isEmpty(), name
