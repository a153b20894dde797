"""Small helpers the docks share: work off the event loop, session events, a destination
combo, a scroll area, a read-only table.

``run_in_thread(func, *args, what=..., on_done=..., on_error=...)`` runs ``func`` in a
napari ``thread_worker`` through :func:`~napari_ezp2p.jobs.outcome.attempt`. What ``func``
returns goes to ``on_done`` (in the main thread). An
:class:`~napari_ezp2p.core.errors.Ezp2pError` it raises (a refused association, a
failed query, a bad config) is not a crash: it becomes an error notification
"``what``: reason" and goes to ``on_error`` with the reason. Anything else is relayed by
napari as an error notification with its traceback, and ``on_error`` gets it too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from napari.qt.threading import create_worker
from napari.utils.notifications import show_error
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QScrollArea,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from ..jobs.outcome import Outcome, attempt


def run_in_thread(
    func: Callable[..., Any],
    *args: Any,
    what: str,
    on_done: Callable[[Any], None],
    on_error: Callable[[str], None] | None = None,
    owner: QWidget | None = None,
):
    """Start ``func(*args)`` in a thread worker and return the worker (started).

    ``what`` names the job in error notifications ("Echo of pacs", "Worklist query").
    When ``owner`` (the dock) is gone before the work ends, ``on_done``/``on_error`` are
    not called; the error notification still is. Tests can wait for ``worker.finished``.
    """
    alive = [True]
    if owner is not None:
        owner.destroyed.connect(lambda *_: alive.__setitem__(0, False))

    def returned(outcome: Outcome) -> None:
        if outcome.error is not None:
            show_error(f"{what}: {outcome.message}")
            if on_error is not None and alive[0]:
                on_error(outcome.message)
        elif alive[0]:
            on_done(outcome.value)

    def errored(error: Exception) -> None:  # napari notifies it already, with the traceback
        if on_error is not None and alive[0]:
            on_error(f"{type(error).__name__}: {error}")

    worker = create_worker(attempt, func, *args, _start_thread=False)
    worker.returned.connect(returned)
    worker.errored.connect(errored)
    worker.start()
    return worker


def follow(owner: QWidget, signal, slot: Callable[..., None]) -> None:
    """Call ``slot`` on each emission of the session's ``signal`` while ``owner`` lives
    (a closed dock stops following)."""
    signal.connect(slot)
    owner.destroyed.connect(lambda *_: signal.disconnect(slot))


class DestinationCombo(QComboBox):
    """An editable combo of configured destination names, refreshed each time it opens.

    The first entry (empty text) means "the configured default"; the user may also type
    ``AET@host:port``. ``names`` is called to list the names when the popup opens.
    """

    def __init__(
        self, names: Callable[[], list[str]], placeholder: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._names = names
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.lineEdit().setPlaceholderText(placeholder)
        self.refresh()

    def refresh(self) -> None:
        text = self.currentText()
        self.blockSignals(True)
        self.clear()
        self.addItems(["", *self._names()])
        self.setEditText(text)
        self.blockSignals(False)

    def showPopup(self) -> None:
        self.refresh()
        super().showPopup()


def scroll_down_only(content: QWidget, owner: QWidget) -> None:
    """Put ``content`` in a scroll area filling ``owner``: it scrolls down, never
    sideways, so the dock is as wide as the content needs."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(content)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    bar = scroll.verticalScrollBar().sizeHint().width()
    scroll.setMinimumWidth(content.minimumSizeHint().width() + bar + 4)
    outer = QVBoxLayout(owner)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(scroll)


def read_only_table(columns: Sequence[str], *, pick_rows: bool = False) -> QTableWidget:
    """An empty table the user reads but never edits, its columns as wide as their
    contents; with ``pick_rows`` a click selects one whole row."""
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    if pick_rows:
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    return table
