"""The Outbox dock: what was sent, what failed and what waits, with retry and purge.

A thin view over :mod:`napari_ezp2p._napari.outbox_view`: a timer polls the outbox off
the event loop (a read-only fingerprint; the rows are read again only when it changed),
so sends from the Send dock, the layer menu or ``ezp2p`` show as they run. Retry is
``ezp2p queue retry`` (``jobs.send.retry``) in a worker; a double-click opens the row's
object, read from its outbox file by our reader, as a layer.
"""

from __future__ import annotations

from functools import partial

from napari.layers import Layer
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .._napari.outbox_view import (
    FILTER_STATES,
    PURGEABLE,
    OutboxRow,
    poll,
    purge_entries,
    read_entry,
    retry_entries,
)
from ..jobs.outcome import Outcome, attempt
from ._common import read_only_table, run_in_thread
from .dock_tabs import tabify_our_docks

COLUMNS = ("When", "Destination", "Address", "Patient", "Description", "SOP Instance UID")
COLUMNS += ("State", "Reason")
ALL_STATES = "all states"
#: How often the outbox is polled, in milliseconds.
POLL_MS = 1000
#: The SOP Instance UID column's width, in pixels.
UID_WIDTH = 160


def _cells(row: OutboxRow) -> tuple[str, ...]:
    return (
        row.when,
        row.destination,
        row.address,
        row.patient,
        row.description,
        row.sop_instance_uid,
        row.state,
        row.reason,
    )


class OutboxWidget(QWidget):
    """The outbox's entries, the latest first, filtered by state.

    ``worker`` is the last retry, purge or open worker, ``poller`` the poll under way.
    """

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        tabify_our_docks(self)
        self.worker = None
        self.poller = None
        self._seen = None
        self._unread = True
        self._rows: list[OutboxRow] = []

        self.state_filter = QComboBox()
        self.state_filter.addItem(ALL_STATES, None)
        for state in FILTER_STATES:
            self.state_filter.addItem(state, state)
        self.state_filter.setToolTip("Show the entries in this state")
        self.table = read_only_table(COLUMNS, pick_rows=True)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        uid = COLUMNS.index("SOP Instance UID")  # long: its tooltip shows it whole
        header.setSectionResizeMode(uid, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(uid, UID_WIDTH)
        self.table.setToolTip("Double-click an entry to open its object as a layer")
        self.retry_button = QPushButton("Retry")
        self.retry_button.setToolTip(
            "Send again the selected entries, or every one that waits when none is selected"
        )
        self.rejected_box = QCheckBox("rejected too")
        self.rejected_box.setToolTip("Also send again what a destination refused for good")
        self.purge_button = QPushButton("Purge")
        self.purge_button.setToolTip(
            "Remove the selected entries, or every one in the state shown, from the outbox"
        )
        self.count_label = QLabel()

        top = QHBoxLayout()
        top.addWidget(QLabel("Show"))
        top.addWidget(self.state_filter, stretch=1)
        top.addWidget(self.count_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.retry_button)
        buttons.addWidget(self.rejected_box)
        buttons.addStretch(1)
        buttons.addWidget(self.purge_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, stretch=1)
        layout.addLayout(buttons)

        self.state_filter.currentIndexChanged.connect(self._show_rows)
        self.retry_button.clicked.connect(self.retry)
        self.purge_button.clicked.connect(self.purge)
        self.table.cellDoubleClicked.connect(self._on_double_click)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.refresh()

    # -- reading --------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> None:
        """Poll the outbox off the event loop (one poll at a time).

        Not through ``run_in_thread``: a poll that fails (the outbox cannot be read now)
        says so in the dock, not in a notification each second.
        """
        if self.poller is not None:
            return
        force = force or self._unread
        self.poller = create_worker(attempt, poll, self._seen, force=force, _start_thread=False)
        self.poller.returned.connect(self._on_polled)
        self.poller.errored.connect(self._on_poll_crashed)
        # kept until its thread has ended: a worker let go while it runs loses its signals
        self.poller.finished.connect(self._on_poll_ended)
        self.poller.start()

    def _on_poll_ended(self) -> None:
        self.poller = None

    def _on_polled(self, outcome: Outcome) -> None:
        if outcome.error is not None:
            self.count_label.setText(f"Cannot read the outbox: {outcome.message}")
            self._unread = True  # the next poll reads the rows, changed or not
            return
        self._unread = False
        self._seen = outcome.value.seen
        if outcome.value.rows is not None:
            self._rows = outcome.value.rows
            self._show_rows()

    def _on_poll_crashed(self, error: Exception) -> None:  # napari shows the traceback
        self.timer.stop()  # once: a retry or a purge polls again
        self.count_label.setText(f"Cannot read the outbox: {type(error).__name__}: {error}")

    def shown_rows(self) -> list[OutboxRow]:
        state = self.state_filter.currentData()
        return [row for row in self._rows if state is None or row.state == state]

    def _show_rows(self, *args) -> None:
        chosen = set(self.selected_ids())
        rows = self.shown_rows()
        table = self.table
        table.setUpdatesEnabled(False)
        table.clearSelection()
        table.setRowCount(len(rows))
        for number, row in enumerate(rows):
            for column, value in enumerate(_cells(row)):
                cell = QTableWidgetItem(value)
                cell.setToolTip(value)
                cell.setData(Qt.ItemDataRole.UserRole, row.entry_id)
                table.setItem(number, column, cell)
            if row.entry_id in chosen:
                table.selectRow(number)
        table.setUpdatesEnabled(True)
        self.count_label.setText(f"{len(rows)} of {len(self._rows)} entries")

    def selected_ids(self) -> list[int]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.table.item(row, 0).data(Qt.ItemDataRole.UserRole) for row in rows]

    def row_states(self) -> list[tuple[str, str, str]]:
        """The table's rows as (description, state, reason), as shown."""
        state, reason = COLUMNS.index("State"), COLUMNS.index("Reason")
        table = self.table
        return [
            (table.item(r, 4).text(), table.item(r, state).text(), table.item(r, reason).text())
            for r in range(table.rowCount())
        ]

    # -- acting ---------------------------------------------------------------------

    def _busy(self, busy: bool) -> None:
        self.retry_button.setEnabled(not busy)
        self.purge_button.setEnabled(not busy)

    def _start(self, func, *args, what: str, on_done) -> None:
        """Run ``func(*args)`` in a worker; ``on_done`` gets what it returns. The dock is
        busy until then (told by the worker's result, which, unlike ``finished``, is
        connected before it starts)."""

        def done(value) -> None:
            self._ended()
            on_done(value)

        self._busy(True)
        self.worker = run_in_thread(
            func, *args, what=what, on_done=done, on_error=self._ended, owner=self
        )

    def _ended(self, *args) -> None:
        self._busy(False)
        self.timer.start()
        self.refresh(force=True)

    def retry(self) -> None:
        """Send again the selected entries, or all that wait (rejected ones when ticked)."""
        ids = self.selected_ids() or None
        retry = partial(retry_entries, rejected=self.rejected_box.isChecked())
        self._start(retry, ids, what="Retrying the outbox", on_done=self._retried)

    def _retried(self, report) -> None:
        if not report.rows:
            show_info("Nothing waits in the outbox.")
        elif report.ok:
            show_info(report.headline())
        else:
            show_error(report.headline())

    def purge(self) -> None:
        """Remove the selected entries, or those in the state shown, once confirmed."""
        ids = self.selected_ids() or None
        state = self.state_filter.currentData()
        states = PURGEABLE if state is None else (state,)
        if ids:
            question = f"Remove {len(ids)} selected entries from the outbox?"
        else:
            count = sum(row.state in states for row in self._rows)
            which = f"{count} {state}" if state else f"{count} (all but those being sent)"
            question = f"Remove the {which} entries from the outbox?"
        answer = QMessageBox.question(
            self,
            "Purge the outbox",
            f"{question} Their files go too; this cannot be undone.",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self._start(purge_entries, ids, states, what="Purging the outbox", on_done=self._purged)

    def _purged(self, removed: int) -> None:
        show_info(f"Purged {removed} entries from the outbox.")

    def _on_double_click(self, number: int, column: int) -> None:
        entry_id = self.table.item(number, 0).data(Qt.ItemDataRole.UserRole)
        row = next((row for row in self._rows if row.entry_id == entry_id), None)
        if row is None:  # purged since
            return
        self._start(read_entry, row, what=f"Opening {row.description}", on_done=self._add_layers)

    def _add_layers(self, layers: list[tuple]) -> None:
        for data in layers:
            self.viewer.add_layer(Layer.create(*data))
