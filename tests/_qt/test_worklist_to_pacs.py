"""A user's whole path in napari: pick a worklist item in the Study dock, send two
layers from the Send dock, find them in the PACS in that study."""

from __future__ import annotations

from pydicom.uid import JPEGLSLossless

from napari_ezp2p._qt.study_widget import StudyWidget
from napari_ezp2p.config import Config, add_destination, save_config

from .helpers import open_dock, type_into
from .test_send_widget import check_all_layers, click_and_wait, film_and_photo, open_send_dock
from .test_study_widget import (
    JAPANESE,
    WL_STUDY_UID,
    click_row,
    run_query,
    worklist_item,
)


def test_worklist_pick_then_send_two_layers_to_orthanc(
    tmp_path, monkeypatch, make_napari_viewer, qtbot, wlmscpfs, orthanc
):
    worklist = wlmscpfs([worklist_item(JAPANESE, "ACC-JP")])
    pacs = orthanc()
    config = add_destination(Config(), "pacs", pacs.destination.address, default=True)
    config = add_destination(config, "ris", worklist.destination.address, worklist=True)
    save_config(config, tmp_path / "config.toml")
    monkeypatch.setenv("EZP2P_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("EZP2P_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.setenv("EZP2P_AET", "EZP2P")

    viewer, study = open_dock(make_napari_viewer, "Study", StudyWidget)
    type_into(qtbot, study.server.lineEdit(), "ris")
    run_query(qtbot, study, study.worklist_button)
    click_row(qtbot, study.table, 0)
    assert study.fields["patient_name"].text() == JAPANESE

    film_and_photo(viewer)
    send = open_send_dock(viewer)
    check_all_layers(qtbot, send)
    send.ts_combo.setCurrentIndex(send.ts_combo.findData("jpeg-ls"))
    click_and_wait(qtbot, send, send.send_button)

    instances = pacs.rest("/instances")
    assert len(instances) == 2
    windows = []
    for instance in instances:
        tags = pacs.rest(f"/instances/{instance}/simplified-tags")
        assert tags["PatientName"] == JAPANESE
        assert tags["StudyInstanceUID"] == WL_STUDY_UID
        assert tags["AccessionNumber"] == "ACC-JP"
        syntax = pacs.rest(f"/instances/{instance}/metadata?expand")["TransferSyntax"]
        assert syntax == JPEGLSLossless
        if "WindowCenter" in tags:
            windows.append((float(tags["WindowCenter"]), float(tags["WindowWidth"])))
    assert windows == [(1500, 2000)], "the film keeps its contrast limits, the photo has none"
