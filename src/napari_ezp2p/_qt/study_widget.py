"""The Study dock: who and what the next send is about, typed or picked from a query.

The form edits ``session.metadata`` of the viewer's :class:`Session`. "Query worklist"
and "Query PACS" run a C-FIND of :mod:`napari_ezp2p.jobs.query` in a thread worker;
picking an answer fills the form with :func:`napari_ezp2p.jobs.study.attach`, which
also remembers the answer's values so that later edits are recorded as coerced.
Consecutive sends go into the session's study until "New study", "Clear" or a changed
patient (:mod:`napari_ezp2p._napari.study_session`). The widget only wires those models
to Qt.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pydicom import Dataset
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .._napari.destination_choice import read_config
from .._napari.session import session_for
from .._napari.study_session import edited, fresh_study, study_label
from ..config import Config, load_user_config, metadata_defaults
from ..core.errors import Ezp2pError
from ..core.metadata import CHARSETS, SEXES, Metadata
from ..jobs.query import ROWS, STUDY_COLUMNS, Filters, query_user_pacs, query_user_worklist
from ..jobs.study import FORM_GROUPS, attach, cleared, problem
from ._common import DestinationCombo, follow, read_only_table, run_in_thread, scroll_down_only
from .config_watch import follow_config_file
from .dock_tabs import tabify_our_docks

#: The label and placeholder of each field of the form.
_LABELS = {
    "patient_name": ("Name", "FAMILY^Given^Middle"),
    "patient_id": ("Patient ID", "empty: automatic"),
    "birth_date": ("Birth date", "YYYYMMDD"),
    "sex": ("Sex", ""),
    "accession_number": ("Accession", ""),
    "referring_physician": ("Referrer", "FAMILY^Given"),
    "study_description": ("Description", ""),
    "study_id": ("Study ID", "new study: 1"),
    "study_date": ("Study date", "new study: today"),
    "study_instance_uid": ("Study UID", "new study"),
    "series_description": ("Description", ""),
    "series_instance_uid": ("Series UID", "new series"),
    "modality": ("Modality", "OT"),
    "body_part": ("Body part", "e.g. CHEST"),
    "laterality": ("Laterality", ""),
    "burned_in_annotation": ("Burned in", ""),
    "charset": ("Charset", ""),
    "institution_name": ("Institution", ""),
    "station_name": ("Station", ""),
    "series_number": ("Number", ""),
}
_READ_ONLY = ("study_instance_uid", "series_instance_uid")
_LATERALITIES = (("", ""), ("R", "R (right)"), ("L", "L (left)"))
#: Burned In Annotation choices: the source's default (None), or the user's YES or NO.
_BURNED_IN = ((None, "source default"), (True, "YES"), (False, "NO"))
_BURNED_IN_HINT = (
    "Whether the pixels show text that identifies the patient (names, a film's ID "
    "flash). The source default is YES for every source but one known to carry none"
)
_MODALITIES = ("OT", "XC", "DOC", "SC", "CR", "DX", "ES", "GM", "SM", "US", "MG")
_NAME_HINT = (
    "DICOM person name: FAMILY^Given^Middle^Prefix^Suffix; for ideographic and "
    "phonetic forms add groups after '=' (Yamada^Tarou=山田^太郎=やまだ^たろう)"
)


# ----------------------------------------------------------------------------- widget


class StudyWidget(QWidget):
    """Patient, study and series of the next send, and the queries that fill them."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._viewer = napari_viewer
        self._session = session_for(napari_viewer)
        tabify_our_docks(self)
        follow_config_file(self, self._session)
        self._showing = False
        self._answers: list[Dataset] = []
        self._answer_kind = ""  # "worklist", "study" or "series"
        self._study: Dataset | None = None  # the PACS study picked, for a series query
        self.worker = None  # the last query's worker

        try:
            self._config = load_user_config()
            config_problem = ""
        except Ezp2pError as error:
            self._config = Config()
            config_problem = str(error)
        self._defaults = metadata_defaults(self._config)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._build_find())
        layout.addWidget(self._build_form())
        layout.addStretch(1)
        scroll_down_only(content, self)

        if self._session.metadata == Metadata():
            self._session.metadata = self._defaults
        self._show(self._session.metadata)
        if config_problem:
            self.problem_label.setText(config_problem)
        events = self._session.events
        for signal in (events.metadata, events.study):
            follow(self, signal, self._on_session_metadata)
        follow(self, events.config, lambda *_: self.server.refresh())

    # ------------------------------------------------------------------ building

    def _build_find(self) -> QGroupBox:
        box = QGroupBox("Find")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.server = DestinationCombo(self._destination_names, "default server")
        self.server.setToolTip(
            "Configured name or AET@host:port; empty: the default worklist server "
            "(worklist) or default destination (PACS)"
        )
        form.addRow("Server", self.server)
        self.filter_name = QLineEdit(placeholderText="DOE* (wildcards * ?)")
        self.filter_id = QLineEdit()
        self.filter_accession = QLineEdit()
        self.filter_date = QLineEdit(placeholderText="YYYYMMDD or A-B")
        self.filter_date.setToolTip(
            "A day YYYYMMDD or a range A-B, A- or -B: the scheduled date for a worklist, "
            "the study date for a PACS"
        )
        self.filter_modality = QLineEdit(placeholderText="e.g. OT")
        form.addRow("Name", self.filter_name)
        ids = QHBoxLayout()
        ids.addWidget(self.filter_id)
        ids.addWidget(QLabel("Acc."))
        ids.addWidget(self.filter_accession)
        form.addRow("ID", ids)
        dates = QHBoxLayout()
        dates.addWidget(self.filter_date)
        dates.addWidget(QLabel("Mod."))
        dates.addWidget(self.filter_modality)
        form.addRow("Date", dates)

        buttons = QHBoxLayout()
        self.worklist_button = QPushButton("Query worklist")
        self.pacs_button = QPushButton("Query PACS")
        self.series_button = QPushButton("Series…")
        self.series_button.setToolTip("List the series of the picked PACS study")
        self.series_button.setEnabled(False)
        for button in (self.worklist_button, self.pacs_button, self.series_button):
            buttons.addWidget(button)
        form.addRow(buttons)
        self.worklist_button.clicked.connect(self._query_worklist)
        self.pacs_button.clicked.connect(self._query_pacs)
        self.series_button.clicked.connect(self._query_series)

        self.table = read_only_table(STUDY_COLUMNS, pick_rows=True)
        self.table.setMinimumHeight(120)
        self.table.itemSelectionChanged.connect(self._pick)
        form.addRow(self.table)
        self.query_status = QLabel("")
        self.query_status.setWordWrap(True)
        form.addRow(self.query_status)
        return box

    def _build_form(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.fields: dict[str, QWidget] = {}
        for title, names in FORM_GROUPS:
            group = QGroupBox(title)
            form = QFormLayout(group)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            for name in names:
                label, hint = _LABELS[name]
                self.fields[name] = self._field(name, hint)
                form.addRow(label, self.fields[name])
            layout.addWidget(group)
        self.fields["patient_name"].setToolTip(_NAME_HINT)
        self.fields["patient_id"].setToolTip("Empty: the inverted date-time of the send")
        self.fields["laterality"].setToolTip(
            "The side of a paired body part (HAND, KNEE, BREAST…); empty for both or unknown"
        )
        self.fields["burned_in_annotation"].setToolTip(_BURNED_IN_HINT)

        buttons = QHBoxLayout()
        self.new_study_button = QPushButton("New study")
        self.new_study_button.setToolTip(
            "Same patient, new study: the sends so far went into this session's study; "
            "the next one starts another, with new UIDs"
        )
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Empty the form: a new patient and study")
        buttons.addWidget(self.new_study_button)
        buttons.addWidget(self.clear_button)
        layout.addLayout(buttons)
        self.new_study_button.clicked.connect(
            lambda: self._set_metadata(fresh_study(self._session))
        )
        self.clear_button.clicked.connect(
            lambda: self._set_metadata(cleared(self._session.metadata, self._defaults))
        )
        self.attachment_label = QLabel("")
        self.attachment_label.setWordWrap(True)
        self.problem_label = QLabel("")
        self.problem_label.setWordWrap(True)
        layout.addWidget(self.attachment_label)
        layout.addWidget(self.problem_label)
        return box

    def _field(self, name: str, hint: str) -> QWidget:
        if name == "sex":
            combo = QComboBox()
            texts = ("", "M (male)", "F (female)", "O (other)")
            for value, text in zip(SEXES, texts, strict=True):
                combo.addItem(text, value)
            combo.currentIndexChanged.connect(self._edited)
            return combo
        if name == "laterality":
            combo = QComboBox()
            for value, text in _LATERALITIES:
                combo.addItem(text, value)
            combo.currentIndexChanged.connect(self._edited)
            return combo
        if name == "burned_in_annotation":
            combo = QComboBox()
            combo.addItems([text for _, text in _BURNED_IN])
            combo.currentIndexChanged.connect(self._edited)
            return combo
        if name == "charset":
            combo = QComboBox()
            # The long names must not make the dock wide: the popup shows them whole.
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(16)
            for term, text in CHARSETS.items():
                combo.addItem(f"{term}: {text}", term)
            combo.currentIndexChanged.connect(self._edited)
            return combo
        if name == "modality":
            combo = QComboBox()
            combo.setEditable(True)
            combo.addItems(_MODALITIES)
            combo.currentTextChanged.connect(self._edited)
            return combo
        if name == "series_number":
            spin = QSpinBox()
            spin.setRange(0, 2**31 - 1)
            spin.valueChanged.connect(self._edited)
            return spin
        edit = QLineEdit(placeholderText=hint)
        if name in _READ_ONLY:
            edit.setReadOnly(True)
        edit.textChanged.connect(self._edited)
        return edit

    # ------------------------------------------------------------------ model <-> form

    def _destination_names(self) -> list[str]:
        """The session's destinations, read again (the ``ezp2p`` command may have changed
        them: every dock then shows it)."""
        read_config(self._session)
        return list(self._session.config.destinations)

    def _form_values(self) -> dict[str, object]:
        values: dict[str, object] = {}
        for name, widget in self.fields.items():
            if name == "burned_in_annotation":
                values[name] = _BURNED_IN[widget.currentIndex()][0]
            elif isinstance(widget, QSpinBox):
                values[name] = widget.value()
            elif isinstance(widget, QComboBox) and not widget.isEditable():
                values[name] = widget.currentData() or ""
            elif isinstance(widget, QComboBox):
                values[name] = widget.currentText().strip()
            else:
                values[name] = widget.text().strip()
        return values

    def _edited(self, *_args) -> None:
        if self._showing:
            return
        before = self._session.metadata
        meta = dataclasses.replace(before, **self._form_values())
        self._set_metadata(edited(self._session.study, before, meta))

    def _set_metadata(self, meta: Metadata) -> None:
        """Put ``meta`` in the session (the form follows) and say what is wrong with it."""
        self._session.metadata = meta
        self._show(meta)

    def _on_session_metadata(self, *_args) -> None:
        self._show(self._session.metadata)

    def _show(self, meta: Metadata) -> None:
        """The form, the attachment and the problem labels for ``meta``."""
        self._showing = True
        try:
            for name, widget in self.fields.items():
                value = getattr(meta, name)
                if name == "burned_in_annotation":
                    widget.setCurrentIndex([v for v, _ in _BURNED_IN].index(value))
                elif isinstance(widget, QSpinBox):
                    if widget.value() != value:
                        widget.setValue(value)
                elif isinstance(widget, QComboBox) and not widget.isEditable():
                    index = widget.findData(value)
                    if index < 0:
                        widget.addItem(value, value)
                        index = widget.count() - 1
                    widget.setCurrentIndex(index)
                elif isinstance(widget, QComboBox):
                    if widget.currentText().strip() != value:
                        widget.setCurrentText(value)
                elif widget.text().strip() != value:  # keep what is being typed
                    widget.setText(value)
        finally:
            self._showing = False
        self.attachment_label.setText(study_label(meta, self._session.study))
        self.problem_label.setText(problem(meta))

    # ------------------------------------------------------------------ queries

    def _filters(self) -> Filters:
        return Filters(
            patient_name=self.filter_name.text(),
            patient_id=self.filter_id.text(),
            accession=self.filter_accession.text(),
            date=self.filter_date.text(),
            modality=self.filter_modality.text(),
        )

    def _busy(self, busy: bool, text: str = "") -> None:
        for button in (self.worklist_button, self.pacs_button):
            button.setEnabled(not busy)
        self.series_button.setEnabled(not busy and self._study is not None)
        if text:
            self.query_status.setText(text)

    def _query_worklist(self) -> None:
        server = self.server.currentText()
        self._start("worklist", "Worklist query", query_user_worklist, server, self._filters())

    def _query_pacs(self) -> None:
        server = self.server.currentText()
        self._start("study", "PACS query", query_user_pacs, server, self._filters())

    def _query_series(self) -> None:
        if self._study is None:
            return
        study = Filters(study_uid=str(self._study.StudyInstanceUID))
        server = self.server.currentText()
        self._start("series", "Series query", query_user_pacs, server, study, "series")

    def _start(self, kind: str, what: str, func, *args) -> None:
        self._busy(True, f"{what}…")

        def done(answers: list[Dataset]) -> None:
            self._busy(False, f"{len(answers)} found" if answers else "Nothing found")
            self._fill(kind, answers)

        def failed(message: str) -> None:
            self._busy(False, f"{what} failed: {message}")

        self.worker = run_in_thread(
            func, *args, what=what, on_done=done, on_error=failed, owner=self
        )

    def _fill(self, kind: str, answers: Sequence[Dataset]) -> None:
        self._answers = list(answers)
        self._answer_kind = kind
        row_of, columns = ROWS[kind]
        self.table.blockSignals(True)
        try:
            self.table.clearContents()
            self.table.setColumnCount(len(columns))
            self.table.setHorizontalHeaderLabels(columns)
            self.table.setRowCount(len(answers))
            for row, answer in enumerate(answers):
                for column, text in enumerate(row_of(answer)):
                    item = QTableWidgetItem(text)
                    item.setToolTip(text)
                    self.table.setItem(row, column, item)
        finally:
            self.table.blockSignals(False)
        if kind != "series":
            self._study = None
            self.series_button.setEnabled(False)

    def _pick(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self._answers):
            return
        answer = self._answers[rows[0].row()]
        series = self._answer_kind == "series"
        try:
            meta = attach(answer, self._session.metadata, series=series)
        except (Ezp2pError, ValueError, TypeError) as error:  # an answer we cannot use
            self.query_status.setText(f"Cannot use this answer: {error}")
            return
        self._set_metadata(meta)
        if self._answer_kind == "study":
            self._study = answer
            self.series_button.setEnabled(True)
        name = self._session.metadata.patient_name or "(no name)"
        self.query_status.setText(f"Picked: {name}")
