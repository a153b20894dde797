"""The Send dock: chosen image layers to the chosen PACS, through the outbox.

A thin face on :func:`napari_ezp2p._napari.sending.send_layers`: the layers are taken
on the main thread (no copy, no encoding), then a worker converts, queues and sends
them, reporting each instance to napari's activity area, and the dock shows the
:class:`~napari_ezp2p.jobs.report.SendReport` it returns. Whatever is not stored stays
in the outbox, to be sent again with "Retry failed" (or ``ezp2p queue retry``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from napari.layers import Image, Labels
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .._napari.destination_choice import read_config, set_tick, ticked
from .._napari.progress import SendProgress
from .._napari.sending import LayerSend, metadata_for_send, retry_layers, send_layers
from .._napari.session import LayerSnapshot, session_for
from ..jobs.report import Row, SendReport
from ..net.progress import ObjectProgress
from ._common import follow, read_only_table, run_in_thread, scroll_down_only
from .config_watch import follow_config_file
from .dock_tabs import tabify_our_docks
from .slices_box import SlicesBox
from .view_box import ViewBox

#: The transfer syntax combo's first choice: let the job choose (see jobs.inputs.SyntaxChoice).
AS_PREFERRED = "as the source is, or as the destinations prefer"
SENDING = "sending"


class SendWidget(QWidget):
    """Send the checked image and labels layers to the checked destinations.

    ``worker`` is the last send/retry worker (tests wait on its ``finished``).
    """

    #: ``(destination name, done, total)`` from the worker thread.
    progressed = Signal(str, int, int)
    #: An :class:`~napari_ezp2p.net.progress.ObjectProgress` from the worker thread.
    object_progressed = Signal(object)

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.session = session_for(napari_viewer)
        tabify_our_docks(self)
        follow_config_file(self, self.session)
        self.worker = None
        self._progress: SendProgress | None = None
        self._labels: dict[int, str] = {}  # outbox entry id -> layer name
        self._syncing = False

        self.layer_list = QListWidget()
        self.layer_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.layer_list.setToolTip("The image and labels layers to send, one image each")
        self.destination_list = QListWidget()
        self.destination_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.destination_list.setToolTip(
            "Configured destinations (see the Destinations dock); none ticked: the default"
        )
        for short_list in (self.layer_list, self.destination_list):
            short_list.setMaximumHeight(140)  # a few rows; the status table gets the rest
        self.destination_hint = QLabel()
        self.destination_hint.setWordWrap(True)
        self.ts_combo = QComboBox()
        self.send_button = QPushButton("Send")
        self.retry_button = QPushButton("Retry failed")
        self.retry_button.setToolTip("Send again what is waiting in the outbox")
        self.slices_box = SlicesBox(napari_viewer)  # of the active layer, remembered for it
        self.status_table = read_only_table(("Layer", "Destination", "State", "Message"))
        self.status_table.horizontalHeader().setStretchLastSection(True)

        from ..core.transfer import TRANSFER_SYNTAXES

        self.ts_combo.addItem(AS_PREFERRED, "")
        for ts in TRANSFER_SYNTAXES:
            self.ts_combo.addItem(f"{ts.key} ({ts.label})", ts.key)

        form = QFormLayout()
        form.addRow("Layers", self.layer_list)
        form.addRow("To", self.destination_list)
        form.addRow("", self.destination_hint)
        form.addRow("Slices", self.slices_box)
        form.addRow("Transfer syntax", self.ts_combo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.retry_button)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addLayout(form)
        layout.addLayout(buttons)
        self.view_box = ViewBox(self)
        layout.addWidget(self.view_box)
        layout.addWidget(self.status_table, stretch=1)
        scroll_down_only(content, self)  # a short dock scrolls rather than squashes

        read_config(self.session)
        self._show_destinations()
        self._show_session_syntax()
        self._rebuild_layers(checked={id(layer) for layer in napari_viewer.layers.selection})

        self.send_button.clicked.connect(self.send)
        self.retry_button.clicked.connect(self.retry)
        self.ts_combo.currentIndexChanged.connect(self._on_syntax_chosen)
        self.destination_list.itemChanged.connect(self._on_destination_checked)
        self.progressed.connect(self._on_progress)
        self.object_progressed.connect(self._on_object_progress)
        layers = napari_viewer.layers
        layers.events.inserted.connect(self._on_layer_inserted)
        layers.events.removed.connect(self._on_layers_changed)
        layers.events.moved.connect(self._on_layers_changed)
        for event in (self.session.events.config, self.session.events.config_problem):
            follow(self, event, self._show_destinations)
        follow(self, self.session.events.destinations, self._show_destinations)
        self.session.events.transfer_syntax.connect(self._show_session_syntax)

    # -- layers ---------------------------------------------------------------------

    def image_layers(self) -> list[Image | Labels]:
        return [layer for layer in self.viewer.layers if isinstance(layer, Image | Labels)]

    def checked_layers(self) -> list[Image | Labels]:
        by_id = {id(layer): layer for layer in self.image_layers()}
        found = []
        for row in range(self.layer_list.count()):
            item = self.layer_list.item(row)
            if item.checkState() == Qt.CheckState.Checked and item.data(Qt.UserRole) in by_id:
                found.append(by_id[item.data(Qt.UserRole)])
        return found

    def _rebuild_layers(self, checked: set[int]) -> None:
        self.layer_list.clear()
        for layer in reversed(self.image_layers()):  # top layer first, as napari lists them
            item = QListWidgetItem(layer.name)
            item.setData(Qt.UserRole, id(layer))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            state = Qt.CheckState.Checked if id(layer) in checked else Qt.CheckState.Unchecked
            item.setCheckState(state)
            self.layer_list.addItem(item)
            layer.events.name.connect(self._on_layers_changed)  # connected once at most

    def _on_layer_inserted(self, event) -> None:
        checked = {id(layer) for layer in self.checked_layers()}
        if isinstance(event.value, Image | Labels):
            checked.add(id(event.value))  # a new layer is napari's selection too
        self._rebuild_layers(checked)

    def _on_layers_changed(self, event=None) -> None:
        self._rebuild_layers({id(layer) for layer in self.checked_layers()})

    # -- destinations and syntax ----------------------------------------------------

    def _show_destinations(self, *_) -> None:
        """Show the session's destinations, ticked as in every dock."""
        session = self.session
        names = list(session.config.destinations)
        wanted = ticked(session)
        names += [text for text in wanted if text not in names]  # AET@host:port ones
        shown = self.destination_list
        if names != [shown.item(row).text() for row in range(shown.count())]:
            self.destination_list.clear()
            for name in names:
                item = QListWidgetItem(name)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                self.destination_list.addItem(item)
        self._syncing = True
        try:
            for row in range(self.destination_list.count()):
                item = self.destination_list.item(row)
                on = item.text() in wanted
                item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        finally:
            self._syncing = False
        if session.config_problem:
            hint = f"Cannot read the settings: {session.config_problem}"
        elif not names:
            hint = (
                "No destination configured: add one in the Destinations dock "
                "(or `ezp2p destinations add`)."
            )
        else:
            hint = ""
        self.destination_hint.setText(hint)

    def checked_destinations(self) -> list[str]:
        return [
            self.destination_list.item(row).text()
            for row in range(self.destination_list.count())
            if self.destination_list.item(row).checkState() == Qt.CheckState.Checked
        ]

    def _on_destination_checked(self, item) -> None:
        if self._syncing:
            return
        set_tick(self.session, item.text(), item.checkState() == Qt.CheckState.Checked)
        self._show_destinations()  # unticking the last one shows the default again

    def _show_session_syntax(self, *args) -> None:
        index = self.ts_combo.findData(self.session.transfer_syntax)
        self.ts_combo.setCurrentIndex(max(index, 0))

    def _on_syntax_chosen(self, index: int) -> None:
        self.session.transfer_syntax = self.ts_combo.itemData(index) or ""

    # -- sending --------------------------------------------------------------------

    def _busy(self, busy: bool) -> None:
        self.send_button.setEnabled(not busy)
        self.retry_button.setEnabled(not busy)
        self.view_box.send_button.setEnabled(not busy)

    def send(self) -> None:
        """Send the checked layers to the checked destinations."""
        read_config(self.session)  # the ``ezp2p`` command may have changed it
        layers = self.checked_layers()
        if not layers:
            show_error("Nothing to send: check at least one image or labels layer.")
            return
        if self.session.config_problem:
            show_error(f"Cannot send: {self.destination_hint.text()}")
            return
        job = LayerSend(
            tuple(LayerSnapshot.of(layer, self.viewer) for layer in layers),
            metadata_for_send(self.session),
            tuple(self.checked_destinations()),
            self.ts_combo.currentData() or "",
        )
        self.start_send(job)

    def start_send(self, job: LayerSend) -> None:
        """Show the job's rows as sending and send it off the event loop."""
        shown = job.destinations or ("default destination",)
        self._show_rows([Row(label, name, SENDING) for label in job.labels for name in shown])
        self._start(send_layers, job, what="Sending to PACS")

    def retry(self) -> None:
        """Send again the outbox's failed entries (each to its own destination)."""
        self._start(retry_layers, dict(self._labels), what="Retrying the outbox")

    def _start(self, func, argument, *, what: str) -> None:
        self._busy(True)
        self._progress = SendProgress(what)
        self.worker = run_in_thread(
            func,
            argument,
            self._progress_from_worker,
            self._object_progress_from_worker,
            what=what,
            on_done=self._report,
            owner=self,
        )
        self.worker.finished.connect(self._on_finished)

    def _progress_from_worker(self, name: str, done: int, total: int) -> None:
        with contextlib.suppress(RuntimeError):  # the dock was closed: the send goes on
            self.progressed.emit(name, done, total)

    def _object_progress_from_worker(self, event: ObjectProgress) -> None:
        with contextlib.suppress(RuntimeError):  # the dock was closed: the send goes on
            self.object_progressed.emit(event)

    def _on_progress(self, name: str, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress.update(name, done, total)

    def _on_object_progress(self, event: ObjectProgress) -> None:
        if self._progress is not None:
            self._progress.show_object(event)

    def _on_finished(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None
        self._busy(False)

    # -- results --------------------------------------------------------------------

    def _report(self, report: SendReport) -> None:
        for row in report.rows:
            if row.entry_id is not None:
                self._labels[row.entry_id] = row.label
        self._show_rows(report.rows)
        if report.ok:
            show_info(report.headline())
        else:
            show_error(report.headline())

    def _show_rows(self, rows: Sequence[Row]) -> None:
        self.status_table.setRowCount(len(rows))
        for number, row in enumerate(rows):
            values = (row.label, row.destination, row.state, row.message)
            for column, value in enumerate(values):
                cell = QTableWidgetItem(value)
                cell.setToolTip(value)
                self.status_table.setItem(number, column, cell)

    def statuses(self) -> list[tuple[str, str, str, str]]:
        """The status table's rows as (layer, destination, state, message)."""
        table = self.status_table
        return [
            tuple(table.item(row, column).text() for column in range(4))
            for row in range(table.rowCount())
        ]
