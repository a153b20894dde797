"""One study per session: the Send dock's consecutive sends go into one study of a real
Orthanc until "New study"; the Study dock's query table tells the studies apart."""

from __future__ import annotations

import numpy as np
import pytest

from napari_ezp2p._napari.session import session_for
from napari_ezp2p._qt.send_widget import SendWidget
from napari_ezp2p._qt.study_widget import StudyWidget

from ..conftest import OUR_AE
from .helpers import click, type_into
from .test_send_widget import click_and_wait
from .test_study_widget import run_query


@pytest.fixture
def pacs(orthanc, settings, monkeypatch):
    """An Orthanc, the default destination of our own config and outbox."""
    server = orthanc()
    settings("pacs", server.destination.address)
    monkeypatch.setenv("EZP2P_AET", OUR_AE)
    return server


def docks(make_napari_viewer):
    viewer = make_napari_viewer()
    _, study = viewer.window.add_plugin_dock_widget("napari-ezp2p", "Study")
    _, send = viewer.window.add_plugin_dock_widget("napari-ezp2p", "Send")
    assert isinstance(study, StudyWidget) and isinstance(send, SendWidget)
    rng = np.random.default_rng(3)
    viewer.add_image(rng.integers(0, 4000, (48, 40), dtype=np.uint16), name="film")
    assert send.checked_layers(), "a new layer is checked"
    return viewer, study, send


def tags_by_study(server) -> dict[str, list[dict]]:
    studies: dict[str, list[dict]] = {}
    for instance in server.rest("/instances"):
        tags = server.rest(f"/instances/{instance}/simplified-tags")
        studies.setdefault(tags["StudyInstanceUID"], []).append(tags)
    return studies


def test_sends_share_the_session_study_until_new_study(make_napari_viewer, qtbot, pacs):
    viewer, study, send = docks(make_napari_viewer)
    type_into(qtbot, study.fields["patient_name"], "FILM^FRIDA")
    type_into(qtbot, study.fields["accession_number"], "ACC-12")
    type_into(qtbot, study.fields["study_description"], "Old films")
    assert "New study" in study.attachment_label.text()

    click_and_wait(qtbot, send, send.send_button)
    assert "sent 1 time" in study.attachment_label.text()
    click_and_wait(qtbot, send, send.send_button)
    assert "Study of this session: sent 2 times" in study.attachment_label.text()

    assert len(pacs.rest("/studies")) == 1
    assert len(pacs.rest("/series")) == 2
    (first,) = tags_by_study(pacs).values()
    for keyword in ("StudyDate", "StudyTime", "StudyID", "PatientID", "IssuerOfPatientID"):
        values = {tags[keyword] for tags in first}
        assert len(values) == 1 and values != {""}, (keyword, values)
    assert sorted(int(tags["SeriesNumber"]) for tags in first) == [1, 2]
    assert len({tags["SeriesInstanceUID"] for tags in first}) == 2
    assert study.fields["study_date"].text() == first[0]["StudyDate"]

    click(qtbot, study.new_study_button)
    assert "New study" in study.attachment_label.text()
    type_into(qtbot, study.fields["study_description"], "More films")
    click_and_wait(qtbot, send, send.send_button)
    studies = tags_by_study(pacs)
    assert len(pacs.rest("/studies")) == 2 and len(studies) == 2
    (second,) = [tags for tags in studies.values() if tags is not first and len(tags) == 1]
    assert second[0]["PatientID"] == first[0]["PatientID"], "New study keeps the patient"
    assert second[0]["SeriesNumber"] == "1"

    # The result table tells the two studies apart.
    type_into(qtbot, study.filter_name, "FILM*")
    run_query(qtbot, study, study.pacs_button)
    table = study.table
    assert table.rowCount() == 2, study.query_status.text()
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    rows = [
        {headers[c]: table.item(r, c).text() for c in range(table.columnCount())}
        for r in range(table.rowCount())
    ]
    by_description = {row["Description"]: row for row in rows}
    old, more = by_description["Old films"], by_description["More films"]
    assert (old["Series"], old["Instances"]) == ("2", "2")
    assert (more["Series"], more["Instances"]) == ("1", "1")
    assert old["Date"] == first[0]["StudyDate"]
    raw = first[0]["StudyTime"].split(".")[0]
    assert old["Time"] == f"{raw[:2]}:{raw[2:4]}:{raw[4:6]}"
    assert more["Date"] == second[0]["StudyDate"]


def test_a_new_patient_after_sends_starts_a_new_study(make_napari_viewer, qtbot, pacs):
    viewer, study, send = docks(make_napari_viewer)
    session = session_for(viewer)
    type_into(qtbot, study.fields["patient_name"], "FILM^FRIDA")
    click_and_wait(qtbot, send, send.send_button)
    generated = session.metadata.patient_id
    assert generated and study.fields["patient_id"].text() == generated

    type_into(qtbot, study.fields["patient_name"], "SCAN^SAM")
    assert "New study" in study.attachment_label.text()
    assert session.metadata.study_instance_uid == ""
    assert study.fields["patient_id"].text() == "", "the generated ID was the old patient's"
    click_and_wait(qtbot, send, send.send_button)

    studies = list(tags_by_study(pacs).values())
    assert len(studies) == 2
    patients = {tags[0]["PatientName"]: tags[0]["PatientID"] for tags in studies}
    assert set(patients) == {"FILM^FRIDA", "SCAN^SAM"}
    assert patients["FILM^FRIDA"] != patients["SCAN^SAM"]


def test_the_layer_menu_sends_into_the_session_study_too(make_napari_viewer, qtbot, pacs):
    from napari_ezp2p._napari.menus import send_layer_to_pacs

    viewer, study, send = docks(make_napari_viewer)
    click_and_wait(qtbot, send, send.send_button)
    assert send_layer_to_pacs(viewer.layers["film"], viewer) is not None
    qtbot.waitUntil(lambda: len(pacs.rest("/instances")) == 2, timeout=30000)
    assert len(pacs.rest("/studies")) == 1
    assert len(pacs.rest("/series")) == 2
    assert "sent 2 times" in study.attachment_label.text()
