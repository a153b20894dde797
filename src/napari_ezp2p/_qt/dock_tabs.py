"""Our docks share one tab stack per side of the window, so that all of them fit a
1280×800 screen: stacked one above the other they need about 1000 px of height.

napari docks the widgets of our manifest itself (``tabify`` is only an argument of
``add_dock_widget``), so each of our docks calls :func:`tabify_our_docks` when it is
made: once napari has docked it, it joins the tabs of the others of ours on its side,
and from then on so does every dock of ours napari adds to the window. Nothing moves
afterwards: docks the user drags apart stay apart until another of ours is opened.
"""

from __future__ import annotations

from qtpy.QtCore import QEvent, QObject, Qt, QTimer
from qtpy.QtWidgets import QDockWidget, QMainWindow, QWidget

_NAME = "napari_ezp2p_dock_tabs"


def tabify_our_docks(widget: QWidget) -> None:
    """Once napari has docked ``widget``, put its dock in the tabs of our other docks,
    and every dock of ours added to the window afterwards too."""
    _soon(widget, lambda: _docked(widget))


def _soon(owner: QObject, call) -> None:
    """``call()`` on the next turn of the event loop, unless ``owner`` is gone by then."""
    timer = QTimer(owner)
    timer.setSingleShot(True)
    timer.timeout.connect(call)
    timer.timeout.connect(timer.deleteLater)
    timer.start(0)


def _docked(widget: QWidget) -> None:
    main, dock = widget.window(), widget.parentWidget()
    if not isinstance(main, QMainWindow) or not isinstance(dock, QDockWidget):
        return  # not docked (floating on its own, or in a test's bare widget)
    tabs = main.findChild(_DockTabs, _NAME, Qt.FindChildOption.FindDirectChildrenOnly)
    if tabs is None:
        tabs = _DockTabs(main)
        main.installEventFilter(tabs)
    tabs.join(dock)


def is_ours(dock: QDockWidget) -> bool:
    """Whether ``dock`` holds one of this plugin's widgets."""
    widget = dock.widget()
    return widget is not None and type(widget).__module__.startswith("napari_ezp2p.")


class _DockTabs(QObject):
    """Watches the main window for docks being added (napari adds then places them:
    the tabs are joined once it has, on the next turn of the event loop)."""

    def __init__(self, main: QMainWindow) -> None:
        super().__init__(main)
        self.setObjectName(_NAME)
        self._main = main

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ChildAdded:
            child = event.child()
            if isinstance(child, QDockWidget):
                _soon(child, lambda: self.join(child))
        return False

    def join(self, dock: QDockWidget) -> None:
        """Put ``dock``, if ours, in the tabs of our others on its side, raised."""
        main = self._main
        if not is_ours(dock) or dock.isFloating():
            return
        area = main.dockWidgetArea(dock)
        others = [
            other
            for other in main.findChildren(QDockWidget)
            if other is not dock
            and is_ours(other)
            and other.toggleViewAction().isChecked()
            and not other.isFloating()
            and main.dockWidgetArea(other) == area
        ]
        if not others:
            return
        stack = max(others, key=lambda other: len(main.tabifiedDockWidgets(other)))
        main.tabifyDockWidget(stack, dock)
        dock.show()
        dock.raise_()
