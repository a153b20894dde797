"""The Study dock against real peers: a wlmscpfs worklist and an Orthanc PACS."""

from __future__ import annotations

import numpy as np
import pytest
from napari.utils.notifications import notification_manager
from pydicom import Dataset
from qtpy.QtCore import Qt

from napari_ezp2p._napari.session import session_for
from napari_ezp2p._qt.study_widget import StudyWidget
from napari_ezp2p.core.convert import convert_images
from napari_ezp2p.core.image import image_from_array
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.sc import build_sc, complete_metadata
from napari_ezp2p.core.transfer import transfer_syntax
from napari_ezp2p.net.destination import NetworkSettings
from napari_ezp2p.net.store import store

from .. import peers
from ..conftest import OUR_AE, free_port
from .helpers import click, open_dock, type_into

JAPANESE = "Yamada^Tarou=山田^太郎=やまだ^たろう"
WL_STUDY_UID = "1.2.826.0.1.3680043.8.498.77"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty config file of our own, our AE title as the peers know it."""
    monkeypatch.setenv("EZP2P_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("EZP2P_AET", OUR_AE)
    return tmp_path


def worklist_item(name: str, accession: str) -> Dataset:
    return peers.worklist_item(name, accession, study_uid=WL_STUDY_UID, station=OUR_AE)


def click_row(qtbot, table, row: int) -> None:
    rect = table.visualItemRect(table.item(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def run_query(qtbot, widget: StudyWidget, button) -> None:
    click(qtbot, button)
    assert widget.worker is not None
    qtbot.waitUntil(lambda: button.isEnabled(), timeout=20000)


def test_the_form_fills_from_a_japanese_worklist_item(home, make_napari_viewer, qtbot, wlmscpfs):
    worklist = wlmscpfs([worklist_item(JAPANESE, "ACC-JP"), worklist_item("DOE^JOHN", "ACC-2")])
    viewer, widget = open_dock(make_napari_viewer, "Study", StudyWidget)
    session = session_for(viewer)

    type_into(qtbot, widget.server.lineEdit(), worklist.destination.address)
    type_into(qtbot, widget.filter_accession, "ACC-JP")
    run_query(qtbot, widget, widget.worklist_button)
    assert widget.table.rowCount() == 1, widget.query_status.text()
    assert widget.table.item(0, 0).text() == JAPANESE

    click_row(qtbot, widget.table, 0)
    assert widget.fields["patient_name"].text() == JAPANESE
    assert widget.fields["study_instance_uid"].text() == WL_STUDY_UID
    meta = session.metadata
    assert meta.patient_name == JAPANESE
    assert meta.study_instance_uid == WL_STUDY_UID
    assert meta.accession_number == "ACC-JP"
    assert meta.study_description == "Film import"
    assert "existing study" in widget.attachment_label.text()
    assert widget.problem_label.text() == ""

    # An edit typed after the pick is the operator's correction: the object keeps the old value.
    type_into(qtbot, widget.fields["patient_id"], "NEW-7")
    meta = session.metadata
    assert meta.patient_id == "NEW-7"
    assert meta.queried["PatientID"] == "WL-1"
    image, _ = image_from_array(np.zeros((8, 8), np.uint8), rgb=False)
    ds = build_sc(image, complete_metadata(meta, _now()), transfer_syntax("explicit-le"))
    assert ds.PatientID == "NEW-7"
    assert ds.StudyInstanceUID == WL_STUDY_UID
    (original,) = ds.OriginalAttributesSequence
    assert original.ReasonForTheAttributeModification == "CORRECT"
    assert original.ModifiedAttributesSequence[0].PatientID == "WL-1"

    # "New study" keeps the patient and drops the attachment: new UIDs next time.
    click(qtbot, widget.new_study_button)
    assert session.metadata.study_instance_uid == ""
    assert session.metadata.patient_name == JAPANESE
    assert widget.fields["study_instance_uid"].text() == ""
    assert "New study" in widget.attachment_label.text()


def _now():
    from datetime import datetime

    return datetime(2026, 11, 29, 12, 0, 0)


def test_pick_a_pacs_study_then_one_of_its_series(home, make_napari_viewer, qtbot, orthanc):
    pacs = orthanc()
    settings = NetworkSettings(ae_title=OUR_AE)
    images = [image_from_array(np.full((16, 16), n, np.uint8), rgb=False)[0] for n in (1, 2)]
    ts = transfer_syntax("explicit-le")
    objects = convert_images(images[:1], Metadata(patient_name="DOE^JANE", patient_id="P1"), ts)
    objects += convert_images(images[1:], Metadata(patient_name="ROE^RICH", patient_id="P2"), ts)
    assert store(objects, pacs.destination, settings).ok
    jane_study = str(objects[0].StudyInstanceUID)

    viewer, widget = open_dock(make_napari_viewer, "Study", StudyWidget)
    session = session_for(viewer)
    type_into(qtbot, widget.server.lineEdit(), pacs.destination.address)
    type_into(qtbot, widget.filter_name, "doe*")
    run_query(qtbot, widget, widget.pacs_button)
    assert widget.table.rowCount() == 1, widget.query_status.text()
    click_row(qtbot, widget.table, 0)
    assert session.metadata.study_instance_uid == jane_study
    assert session.metadata.patient_name == "DOE^JANE"
    assert session.metadata.patient_id == "P1"
    assert session.metadata.series_instance_uid == ""  # a new series in that study

    assert widget.series_button.isEnabled()
    run_query(qtbot, widget, widget.series_button)
    assert widget.table.rowCount() == 1, widget.query_status.text()
    click_row(qtbot, widget.table, 0)
    assert session.metadata.series_instance_uid == str(objects[0].SeriesInstanceUID)
    assert session.metadata.study_instance_uid == jane_study
    assert session.metadata.queried["PatientName"] == "DOE^JANE"
    assert "existing series" in widget.attachment_label.text()


def test_bad_values_and_a_dead_server_are_told_not_fatal(home, make_napari_viewer, qtbot):
    viewer, widget = open_dock(make_napari_viewer, "Study", StudyWidget)
    session = session_for(viewer)
    type_into(qtbot, widget.fields["birth_date"], "1970-01-01")
    assert "PatientBirthDate" in widget.problem_label.text()
    assert session.metadata.birth_date == "1970-01-01"  # the Send dock refuses it too
    type_into(qtbot, widget.fields["birth_date"], "19700101")
    assert widget.problem_label.text() == ""
    type_into(qtbot, widget.fields["study_description"], "Chest film ")
    assert widget.fields["study_description"].text() == "Chest film "  # typing goes on
    assert session.metadata.study_description == "Chest film"
    widget.fields["charset"].setCurrentIndex(widget.fields["charset"].findData("ISO_IR 100"))
    widget.fields["patient_name"].setText("山田^太郎")  # QTest cannot type non-ASCII keys
    assert "Specific Character Set ISO_IR 100" in widget.problem_label.text()
    assert session.metadata.charset == "ISO_IR 100"

    before = len(notification_manager.records)
    type_into(qtbot, widget.server.lineEdit(), f"PACS@127.0.0.1:{free_port()}")
    run_query(qtbot, widget, widget.pacs_button)
    assert "refused" in widget.query_status.text().lower()
    errors = [n.message for n in notification_manager.records[before:]]
    assert any("PACS query" in m and "refused" in m.lower() for m in errors), errors
    # Still usable: another query runs and reports again.
    run_query(qtbot, widget, widget.worklist_button)
    assert "worklist query failed" in widget.query_status.text().lower()
