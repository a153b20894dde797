"""The Send dock: chosen image layers to the chosen PACS, through the outbox.

A thin face on :mod:`napari_ezp2p.workflow`: layers become images on the main thread
(cheap: no encoding), then a ``thread_worker`` queues them in the outbox (encoding)
and drains it, reporting each instance to napari's activity area. Whatever is not
stored stays in the outbox, to be sent again with "Retry failed" (or ``ezp2p outbox
retry``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from napari.layers import Image
from napari.qt.threading import thread_worker
from napari.utils import progress
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .._napari.session import session_for
from ._common import Unnested

#: The transfer syntax combo's first choice: the destination's preferred syntax.
AS_PREFERRED = "as the destination prefers"
#: What "as the destination prefers" means for a destination that prefers none.
FALLBACK_SYNTAX = "explicit-le"
#: Environment variable naming the outbox folder (as for the ``ezp2p`` command).
ENV_OUTBOX = "EZP2P_OUTBOX"

SENT, WARNING, FAILED, QUEUED, SENDING = "sent", "warning", "failed", "queued", "sending"


@dataclass
class ImageStatus:
    """One row of the status table: an image for one destination."""

    label: str
    destination: str
    state: str
    message: str = ""
    entry_id: int | None = None


@dataclass
class SendResult:
    """What a send (or retry) worker returns to the widget (never raises)."""

    rows: list[ImageStatus] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # destination-wide reasons


def outbox_folder(config) -> Path:
    """``$EZP2P_OUTBOX``, else the config's outbox folder, else the default one."""
    from ..outbox import default_outbox_folder

    return Path(os.environ.get(ENV_OUTBOX) or config.outbox or default_outbox_folder())


def _entry_status(entry, label: str) -> ImageStatus:
    if entry.state == SENT:
        warned = entry.last_status not in (None, 0)
        state, message = (WARNING, entry.last_message) if warned else (SENT, "")
        if warned and not message:
            message = f"status 0x{entry.last_status:04X}"
    else:
        state, message = entry.state, entry.last_message
    return ImageStatus(label, entry.destination_name, state, message, entry.id)


def _run_errors(summary) -> list[str]:
    errors = []
    for run in summary.destinations.values():
        if run.error:
            errors.append(f"{run.name} ({run.address}): {run.error}")
        elif run.failures:
            errors.append(f"{run.name} ({run.address}): {run.failures[0].reason}")
    return errors


def send_layers(
    layers: Sequence,
    meta,
    ts_key: str,
    destinations: Sequence,
    network,
    folder: Path,
    progress_cb: Callable[[str, int, int], None] | None = None,
) -> SendResult:
    """Convert ``LayerSnapshot``s into images, queue them and send them (worker thread).

    An empty ``ts_key`` encodes for each destination in its preferred syntax (one
    encoding per syntax; the study and series are shared). A layer that cannot be
    converted or encoded is a failed row for each destination; the others still go.
    """
    from datetime import datetime

    from ..core.errors import Ezp2pError
    from ..core.sc import complete_metadata
    from ..core.transfer import transfer_syntax
    from ..outbox import Outbox
    from ..workflow import queue_images, send_queued

    result = SendResult()
    items = []
    for layer in layers:
        try:
            image = layer.image()
        except (Ezp2pError, ValueError) as error:
            result.rows += [
                ImageStatus(layer.name, d.name, FAILED, str(error)) for d in destinations
            ]
            continue
        overrides = image.overrides
        if not meta.series_description:
            overrides["series_description"] = image.name
        items.append((image.name, image.image, overrides))
    if not items:
        return result
    try:
        now = datetime.now()
        meta = complete_metadata(meta, now)  # one study and series for every group
        groups: dict[str, list] = {}
        for destination in destinations:
            key = ts_key or destination.transfer_syntax or FALLBACK_SYNTAX
            groups.setdefault(key, []).append(destination)
        labels: dict[int, str] = {}
        with Outbox(folder) as outbox:
            for key, group in groups.items():
                queued = queue_images(items, meta, transfer_syntax(key), group, outbox, now)
                refused = dict(queued.errors)  # layer names are unique in a viewer
                ids = iter(queued.entry_ids)  # per image, then per destination
                for label, _image, _overrides in items:
                    if label in refused:
                        result.rows += [
                            ImageStatus(label, d.name, FAILED, refused[label]) for d in group
                        ]
                    else:
                        labels.update((next(ids), label) for _ in group)
            summary = send_queued(outbox, destinations, network, progress_cb)
            result.errors = _run_errors(summary)
            for entry_id, label in labels.items():
                entry = outbox.get(entry_id)
                if entry is not None:
                    result.rows.append(_entry_status(entry, label))
    except Ezp2pError as error:
        result.errors.append(str(error))
    return result


def retry_failed(
    folder: Path,
    network,
    labels: dict[int, str],
    progress_cb: Callable[[str, int, int], None] | None = None,
) -> SendResult:
    """Make the outbox's failed (and waiting) entries due and send them (worker thread)."""
    from ..core.errors import Ezp2pError
    from ..outbox import FAILED as OUTBOX_FAILED
    from ..outbox import QUEUED as OUTBOX_QUEUED
    from ..outbox import Outbox
    from ..workflow import send_queued

    result = SendResult()
    try:
        with Outbox(folder) as outbox:
            waiting = outbox.list([OUTBOX_FAILED, OUTBOX_QUEUED])
            if not waiting:
                return result
            outbox.retry([entry.id for entry in waiting])
            destinations = {entry.destination_name: entry.destination for entry in waiting}
            summary = send_queued(outbox, list(destinations.values()), network, progress_cb)
            result.errors = _run_errors(summary)
            for entry in waiting:
                entry = outbox.get(entry.id) or entry
                label = labels.get(entry.id) or entry.series_description or entry.sop_instance_uid
                result.rows.append(_entry_status(entry, label))
    except Ezp2pError as error:
        result.errors.append(str(error))
    return result


class SendWidget(QWidget):
    """Send the checked image layers to the checked destinations.

    ``worker`` is the last send/retry worker (tests wait on its ``finished``).
    """

    #: ``(destination name, done, total)`` from the worker thread.
    progressed = Signal(str, int, int)

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.session = session_for(napari_viewer)
        self.worker = None
        self.config = None
        self._progress: progress | None = None
        self._progress_counts: dict[str, tuple[int, int]] = {}  # per destination
        self._redraw_progress = Unnested(self._draw_progress)
        self._labels: dict[int, str] = {}  # outbox entry id -> layer name
        self._syncing = False

        self.layer_list = QListWidget()
        self.layer_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.layer_list.setToolTip("The image layers to send, one image each")
        self.destination_list = QListWidget()
        self.destination_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.destination_list.setToolTip("Configured destinations (see the Destinations dock)")
        for short_list in (self.layer_list, self.destination_list):
            short_list.setMaximumHeight(140)  # a few rows; the status table gets the rest
        self.destination_hint = QLabel()
        self.destination_hint.setWordWrap(True)
        self.ts_combo = QComboBox()
        self.send_button = QPushButton("Send")
        self.retry_button = QPushButton("Retry failed")
        self.retry_button.setToolTip("Send again what is waiting in the outbox")
        self.refresh_button = QPushButton("Reload destinations")
        self.status_table = QTableWidget(0, 4)
        self.status_table.setHorizontalHeaderLabels(["Layer", "Destination", "State", "Message"])
        self.status_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.status_table.verticalHeader().setVisible(False)
        header = self.status_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

        from ..core.transfer import TRANSFER_SYNTAXES

        self.ts_combo.addItem(AS_PREFERRED, "")
        for ts in TRANSFER_SYNTAXES:
            self.ts_combo.addItem(f"{ts.key} ({ts.label})", ts.key)

        form = QFormLayout()
        form.addRow("Layers", self.layer_list)
        form.addRow("To", self.destination_list)
        form.addRow("", self.destination_hint)
        form.addRow("Transfer syntax", self.ts_combo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.retry_button)
        buttons.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status_table, stretch=1)

        self.reload_destinations()
        self._show_session_syntax()
        self._rebuild_layers(checked={id(layer) for layer in napari_viewer.layers.selection})

        self.send_button.clicked.connect(self.send)
        self.retry_button.clicked.connect(self.retry)
        self.refresh_button.clicked.connect(self.reload_destinations)
        self.ts_combo.currentIndexChanged.connect(self._on_syntax_chosen)
        self.destination_list.itemChanged.connect(self._on_destination_checked)
        self.progressed.connect(self._on_progress)
        layers = napari_viewer.layers
        layers.events.inserted.connect(self._on_layer_inserted)
        layers.events.removed.connect(self._on_layers_changed)
        layers.events.moved.connect(self._on_layers_changed)
        self.session.events.destinations.connect(self._show_session_destinations)
        self.session.events.transfer_syntax.connect(self._show_session_syntax)

    # -- layers ---------------------------------------------------------------------

    def image_layers(self) -> list[Image]:
        return [layer for layer in self.viewer.layers if isinstance(layer, Image)]

    def checked_layers(self) -> list[Image]:
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
        if isinstance(event.value, Image):
            checked.add(id(event.value))  # a new layer is napari's selection too
        self._rebuild_layers(checked)

    def _on_layers_changed(self, event=None) -> None:
        self._rebuild_layers({id(layer) for layer in self.checked_layers()})

    # -- destinations and syntax ----------------------------------------------------

    def reload_destinations(self) -> None:
        """Read the config again (the Destinations dock may have changed it)."""
        from ..config import load_user_config
        from ..core.errors import Ezp2pError

        try:
            self.config = load_user_config()
            self.destination_hint.setText("")
        except Ezp2pError as error:
            self.config = None
            self.destination_hint.setText(f"Cannot read the settings: {error}")
        self._fill_destinations()

    def _fill_destinations(self) -> None:
        self._syncing = True
        try:
            self.destination_list.clear()
            names = list(self.config.destinations) if self.config else []
            wanted = list(self.session.destinations)
            if not wanted and self.config and self.config.default_destination:
                wanted = [self.config.default_destination]
            for text in wanted:  # AET@host:port given in the session
                if text not in names:
                    names.append(text)
            for name in names:
                item = QListWidgetItem(name)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                checked = name in wanted
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                self.destination_list.addItem(item)
            if not names and self.config is not None:
                self.destination_hint.setText(
                    "No destination configured: add one in the Destinations dock "
                    "(or `ezp2p destinations add`)."
                )
        finally:
            self._syncing = False

    def checked_destinations(self) -> list[str]:
        return [
            self.destination_list.item(row).text()
            for row in range(self.destination_list.count())
            if self.destination_list.item(row).checkState() == Qt.CheckState.Checked
        ]

    def _on_destination_checked(self, item=None) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            self.session.destinations = tuple(self.checked_destinations())
        finally:
            self._syncing = False

    def _show_session_destinations(self, *args) -> None:
        if not self._syncing:
            self.reload_destinations()

    def _show_session_syntax(self, *args) -> None:
        index = self.ts_combo.findData(self.session.transfer_syntax)
        self.ts_combo.setCurrentIndex(max(index, 0))

    def _on_syntax_chosen(self, index: int) -> None:
        self.session.transfer_syntax = self.ts_combo.itemData(index) or ""

    # -- sending --------------------------------------------------------------------

    def _busy(self, busy: bool) -> None:
        self.send_button.setEnabled(not busy)
        self.retry_button.setEnabled(not busy)

    def _resolve(self) -> list | None:
        from ..config import resolve_destination
        from ..core.errors import Ezp2pError

        if self.config is None:
            show_error(f"Cannot send: {self.destination_hint.text()}")
            return None
        names = self.checked_destinations()
        try:
            return [resolve_destination(self.config, name) for name in names or [None]]
        except Ezp2pError as error:
            show_error(f"Cannot send: {error}")
            return None

    def send(self) -> None:
        """Queue the checked layers for the checked destinations and send them."""
        from .._napari.session import LayerSnapshot

        self.reload_destinations()
        layers = self.checked_layers()
        if not layers:
            show_error("Nothing to send: check at least one image layer.")
            return
        destinations = self._resolve()
        if destinations is None:
            return
        self._show_rows(
            [ImageStatus(layer.name, d.name, SENDING) for layer in layers for d in destinations]
        )
        worker = thread_worker(send_layers)(
            [LayerSnapshot.of(layer) for layer in layers],
            self.session.metadata,
            self.ts_combo.currentData() or "",
            destinations,
            self.config.network,
            outbox_folder(self.config),
            self.progressed.emit,
        )
        self._start(worker, "Sending to PACS", [])

    def retry(self) -> None:
        """Send again the outbox's failed entries (each to its own destination)."""
        self.reload_destinations()
        if self.config is None:
            show_error(f"Cannot retry: {self.destination_hint.text()}")
            return
        worker = thread_worker(retry_failed)(
            outbox_folder(self.config),
            self.config.network,
            dict(self._labels),
            self.progressed.emit,
        )
        self._start(worker, "Retrying the outbox", [])

    def _start(self, worker, description: str, extra_rows: list[ImageStatus]) -> None:
        self.worker = worker
        self._busy(True)
        self._progress_counts = {}
        self._progress = progress(total=0, desc=description)
        worker.returned.connect(lambda result: self._report(result, extra_rows))
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        worker.start()

    def _on_progress(self, name: str, done: int, total: int) -> None:
        if self._progress is None:
            return
        self._progress_counts[name] = (done, total)
        self._redraw_progress()

    def _draw_progress(self) -> None:
        if self._progress is None:
            return
        counts = self._progress_counts.values()
        total, done = sum(t for _, t in counts), sum(d for d, _ in counts)
        if total != self._progress.total:
            self._progress.total = total
            self._progress.set_description(f"Sending to {', '.join(self._progress_counts)}")
        self._progress.update(done - self._progress.n)  # emits napari's value event

    def _on_error(self, error: Exception) -> None:  # a bug: the worker catches our errors
        show_error(f"Sending failed: {type(error).__name__}: {error}")

    def _on_finished(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None
        self._busy(False)

    # -- results --------------------------------------------------------------------

    def _report(self, result: SendResult, extra_rows: Sequence[ImageStatus] = ()) -> None:
        rows = [*extra_rows, *result.rows]
        for row in rows:
            if row.entry_id is not None:
                self._labels[row.entry_id] = row.label
        self._show_rows(rows)
        sent = [row for row in rows if row.state in (SENT, WARNING)]
        warned = [row for row in sent if row.state == WARNING]
        failed = [row for row in rows if row.state not in (SENT, WARNING)]
        if not rows and not result.errors:
            show_info("Nothing was waiting in the outbox.")
            return
        if failed or result.errors:
            reasons = list(result.errors)
            for row in failed:
                if row.message and not any(row.message in reason for reason in reasons):
                    reasons.append(f"{row.label}: {row.message}")
            kept = sum(row.entry_id is not None for row in failed)
            message = f"{len(failed)} of {len(rows)} images not sent"
            if kept:
                message += f" ({kept} kept in the outbox: use Retry failed)"
            show_error(f"{message}: {'; '.join(reasons) or 'see the Send dock'}")
            return
        targets = sorted({row.destination for row in sent})
        note = f", {len(warned)} with warnings: {warned[0].message}" if warned else ""
        show_info(f"Sent {len(sent)} images to {', '.join(targets)}{note}")

    def _show_rows(self, rows: Sequence[ImageStatus]) -> None:
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
