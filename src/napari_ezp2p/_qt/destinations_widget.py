"""The Destinations dock: our AE title, the remote AEs of the user's config, and C-ECHO.

Every change is written at once to the config file :func:`~napari_ezp2p.config.config_path`
names, through :mod:`napari_ezp2p._napari.destination_choice`, which tells every dock of
the viewer's :class:`Session` (and the ``ezp2p`` command sees it too). The "Send"
checkboxes are the session's ticks, the same as the Send dock's. The config edits are
those of :mod:`napari_ezp2p.jobs.destinations`; the widget only wires them to Qt.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from napari.utils.notifications import show_error
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .._napari.destination_choice import read_config, set_tick, ticked, write_config
from .._napari.session import session_for
from ..config import ENV_AET, Config, config_path, remove_destination
from ..core.errors import Ezp2pError
from ..core.transfer import TRANSFER_SYNTAXES
from ..jobs.destinations import (
    DestinationForm,
    describe_echo,
    destination_of,
    echo_form,
    form_of,
    roles,
    with_ae_title,
    with_destination,
)
from ..net.association import EchoResult
from ..net.destination import DEFAULT_MAX_PDU, MAX_ASSOCIATIONS, TlsSettings
from ._common import follow, read_only_table, run_in_thread, scroll_down_only
from .config_watch import follow_config_file
from .dock_tabs import tabify_our_docks

_COLUMNS = ("Send", "Name", "Address", "Syntax", "Role")


class DestinationsWidget(QWidget):
    """Our AE title, the configured destinations, and which ones the next send uses."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._viewer = napari_viewer
        self._session = session_for(napari_viewer)
        tabify_our_docks(self)
        follow_config_file(self, self._session)
        self._filling = False
        self.worker = None  # the last echo's worker

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(4, 4, 4, 4)

        ours = QFormLayout()
        self.ae_title = QLineEdit()
        self.ae_title.setMaxLength(16)
        self.ae_title.setToolTip("Our AE title: 1-16 printable ASCII characters, no backslash")
        self.ae_title.editingFinished.connect(self._save_ae_title)
        ours.addRow("Our AE title", self.ae_title)
        layout.addLayout(ours)

        self.table = read_only_table(_COLUMNS, pick_rows=True)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setToolTip("Tick the destinations of the next send (none: the default)")
        self.table.setMinimumHeight(100)
        self.table.itemChanged.connect(self._checks_changed)
        self.table.itemSelectionChanged.connect(self._row_picked)
        layout.addWidget(self.table)

        layout.addWidget(self._build_editor())
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        layout.addStretch(1)

        scroll_down_only(content, self)

        read_config(self._session)
        self._show_config()
        self._show_problem()
        events = self._session.events
        follow(self, events.config, self._show_config)
        follow(self, events.config_problem, self._show_problem)
        follow(self, events.destinations, self._show_checks)

    def _build_editor(self) -> QGroupBox:
        box = QGroupBox("Destination")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.name = QLineEdit(placeholderText="e.g. pacs")
        self.dest_ae_title = QLineEdit(placeholderText="their AE title")
        self.dest_ae_title.setMaxLength(16)
        self.host = QLineEdit(placeholderText="host name or IP")
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(104)
        self.syntax = QComboBox()
        self.syntax.addItem("as encoded", "")
        for ts in TRANSFER_SYNTAXES:
            self.syntax.addItem(ts.label, ts.key)
        self.max_pdu = QSpinBox()
        self.max_pdu.setRange(0, 2**31 - 1)
        self.max_pdu.setSingleStep(4096)
        self.max_pdu.setSpecialValueText("unlimited")
        self.max_pdu.setValue(DEFAULT_MAX_PDU)
        self.associations = QSpinBox()
        self.associations.setRange(1, MAX_ASSOCIATIONS)
        self.associations.setToolTip(
            "How many associations a transfer may open to it at once: more than 1 only "
            "for a PACS that stores in parallel"
        )
        self.tls = QCheckBox("TLS")
        self.ca_file = QLineEdit(placeholderText="CA file (PEM)")
        self.ca_file.setEnabled(False)
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose the CA file")
        browse.setEnabled(False)
        self.tls.toggled.connect(self.ca_file.setEnabled)
        self.tls.toggled.connect(browse.setEnabled)
        browse.clicked.connect(self._browse_ca)
        self.is_default = QCheckBox("Default")
        self.is_default.setToolTip("Where a send goes when none is ticked")
        self.is_worklist = QCheckBox("Worklist server")

        form.addRow("Name", self.name)
        form.addRow("AE title", self.dest_ae_title)
        address = QHBoxLayout()
        address.addWidget(self.host, 1)
        address.addWidget(QLabel("Port"))
        address.addWidget(self.port)
        form.addRow("Host", address)
        form.addRow("Syntax", self.syntax)
        pdu = QHBoxLayout()
        pdu.addWidget(self.max_pdu, 1)
        pdu.addWidget(QLabel("Associations"))
        pdu.addWidget(self.associations)
        form.addRow("Max PDU", pdu)
        tls = QHBoxLayout()
        tls.addWidget(self.tls)
        tls.addWidget(self.ca_file, 1)
        tls.addWidget(browse)
        form.addRow(tls)
        roles = QHBoxLayout()
        roles.addWidget(self.is_default)
        roles.addWidget(self.is_worklist)
        form.addRow(roles)

        buttons = QHBoxLayout()
        self.new_button = QPushButton("New")
        self.save_button = QPushButton("Save")
        self.remove_button = QPushButton("Remove")
        self.echo_button = QPushButton("Echo")
        for button in (self.new_button, self.save_button, self.remove_button, self.echo_button):
            buttons.addWidget(button)
        form.addRow(buttons)
        self.new_button.clicked.connect(lambda: self._show_form(DestinationForm()))
        self.save_button.clicked.connect(self._save)
        self.remove_button.clicked.connect(self._remove)
        self.echo_button.clicked.connect(self._echo)
        self.echo_label = QLabel("")
        self.echo_label.setWordWrap(True)
        form.addRow("Echo", self.echo_label)
        self._hidden_tls = TlsSettings()
        return box

    # ------------------------------------------------------------------ config

    def _show_config(self, *_) -> None:
        """Show the session's config: our AE title and the destinations."""
        self.ae_title.setText(self._session.config.network.ae_title)
        if os.environ.get(ENV_AET):
            self.ae_title.setToolTip(f"{ENV_AET} overrides it while it is set")
        self._fill_table()

    def _show_problem(self, *_) -> None:
        problem = self._session.config_problem
        if problem:
            self.status.setText(f"{problem} (fix the file: nothing is saved meanwhile)")

    def _store(self, config: Config, message: str) -> bool:
        """Save ``config`` to the file; say ``message`` or why it could not be saved."""
        if self._session.config_problem:
            self.status.setText(f"{config_path()}: cannot be read, so nothing is saved")
            return False
        try:
            write_config(self._session, config)
        except Ezp2pError as error:
            self.status.setText(str(error))
            return False
        self.status.setText(message)
        return True

    def _edit(self, change: Callable[[Config], tuple[Config, str] | None]) -> bool:
        """Save what ``change`` makes of the config file as it is now, and say its
        message; ``change`` returns None when there is nothing to save. An edit the
        config refuses is shown and nothing is saved."""
        current = read_config(self._session)
        if current is None:
            self._show_problem()
            return False
        try:
            changed = change(current)
        except Ezp2pError as error:
            self.status.setText(str(error))
            return False
        return changed is not None and self._store(*changed)

    def _save_ae_title(self) -> None:
        title = self.ae_title.text()

        def change(current: Config) -> tuple[Config, str] | None:
            if title.strip() == current.network.ae_title:
                return None
            config = with_ae_title(current, title)
            return config, f"Our AE title is {config.network.ae_title}"

        self._edit(change)

    def _save(self) -> None:
        form = self._form()
        name = form.name.strip()

        def change(current: Config) -> tuple[Config, str]:
            verb = "Saved" if name in current.destinations else "Added"
            return with_destination(current, form), f"{verb} {name} ({form.address})"

        if self._edit(change):
            self._select(name)

    def _remove(self) -> None:
        name = self.name.text().strip()
        if self._edit(lambda current: (remove_destination(current, name), f"Removed {name}")):
            self._show_form(DestinationForm())

    def _browse_ca(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "CA file", self.ca_file.text())
        if path:
            self.ca_file.setText(path)

    # ------------------------------------------------------------------ echo

    def _echo(self) -> None:
        form = self._form()
        try:
            destination_of(form)
        except Ezp2pError as error:
            self.echo_label.setText(str(error))
            return
        what = f"Echo of {form.name.strip() or form.address}"
        self.echo_label.setText("…")
        self.echo_button.setEnabled(False)

        def done(result: EchoResult) -> None:
            self.echo_button.setEnabled(True)
            self.echo_label.setText(describe_echo(result))
            if not result.ok:
                show_error(f"{what}: {result.error}")

        def failed(message: str) -> None:
            self.echo_button.setEnabled(True)
            self.echo_label.setText(message)

        self.worker = run_in_thread(
            echo_form, form, what=what, on_done=done, on_error=failed, owner=self
        )

    # ------------------------------------------------------------------ form and table

    def _form(self) -> DestinationForm:
        return DestinationForm(
            name=self.name.text().strip(),
            ae_title=self.dest_ae_title.text().strip(),
            host=self.host.text().strip(),
            port=self.port.value(),
            transfer_syntax=self.syntax.currentData() or "",
            max_pdu=self.max_pdu.value(),
            associations=self.associations.value(),
            tls=self.tls.isChecked(),
            ca_file=self.ca_file.text().strip(),
            cert_file=self._hidden_tls.cert_file,
            key_file=self._hidden_tls.key_file,
            verify=self._hidden_tls.verify,
            default=self.is_default.isChecked(),
            worklist=self.is_worklist.isChecked(),
        )

    def _show_form(self, form: DestinationForm) -> None:
        self.name.setText(form.name)
        self.dest_ae_title.setText(form.ae_title)
        self.host.setText(form.host)
        self.port.setValue(form.port)
        self.syntax.setCurrentIndex(max(self.syntax.findData(form.transfer_syntax), 0))
        self.max_pdu.setValue(min(form.max_pdu, self.max_pdu.maximum()))
        self.associations.setValue(form.associations)
        self.tls.setChecked(form.tls)
        self.ca_file.setText(form.ca_file)
        self._hidden_tls = TlsSettings("", form.cert_file, form.key_file, form.verify)
        self.is_default.setChecked(form.default)
        self.is_worklist.setChecked(form.worklist)
        self.echo_label.setText("")

    def _fill_table(self) -> None:
        config = self._session.config
        chosen = set(ticked(self._session))
        self._filling = True
        try:
            self.table.setRowCount(len(config.destinations))
            for row, (name, dest) in enumerate(config.destinations.items()):
                check = QTableWidgetItem()
                check.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
                check.setData(Qt.ItemDataRole.UserRole, name)
                state = Qt.CheckState.Checked if name in chosen else Qt.CheckState.Unchecked
                check.setCheckState(state)
                self.table.setItem(row, 0, check)
                texts = (name, dest.address, dest.transfer_syntax, ", ".join(roles(config, name)))
                for column, text in enumerate(texts, start=1):
                    self.table.setItem(row, column, QTableWidgetItem(text))
        finally:
            self._filling = False

    def _checks_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != 0:
            return
        on = item.checkState() == Qt.CheckState.Checked
        set_tick(self._session, item.data(Qt.ItemDataRole.UserRole), on)
        self._show_checks()  # unticking the last one shows the default again

    def _show_checks(self, *_) -> None:
        destinations = ticked(self._session)
        self._filling = True
        try:
            for row in range(self.table.rowCount()):
                check = self.table.item(row, 0)
                if check is None:
                    continue
                on = check.data(Qt.ItemDataRole.UserRole) in destinations
                check.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        finally:
            self._filling = False

    def _row_picked(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        item = self.table.item(rows[0].row(), 1)
        config = self._session.config
        if item is not None and item.text() in config.destinations:
            self._show_form(form_of(config, item.text()))

    def _select(self, name: str) -> None:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 1)
            if item is not None and item.text() == name:
                self.table.selectRow(row)
                return
