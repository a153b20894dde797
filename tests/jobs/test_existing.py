"""Joining an existing study, series or worklist order, end to end with ``ezp2p serve``."""

import json
from datetime import datetime

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread

from napari_ezp2p.cli import main
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.devpacs.server import run_server
from napari_ezp2p.jobs.existing import with_existing
from napari_ezp2p.jobs.send import SendItem, send
from napari_ezp2p.net.destination import Destination, NetworkSettings
from tests.peers import dciodvfy_errors

THEN = datetime(2024, 1, 2, 10, 15, 0)
WORKLIST = [
    {
        "PatientName": "Doe^Jane",
        "PatientID": "WL-9",
        "IssuerOfPatientID": "HOSP",
        "AccessionNumber": "ACC-9",
        "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.90",
        "RequestedProcedureDescription": "Film import",
        "RequestedProcedureID": "RP9",
        "RequestedProcedureCodeSequence": [
            {"CodeValue": "RPX", "CodingSchemeDesignator": "99EZP", "CodeMeaning": "Film import"}
        ],
        "ScheduledProcedureStepSequence": [
            {
                "Modality": "OT",
                "ScheduledStationAETitle": "EZP2P",
                "ScheduledProcedureStepStartDate": "20261129",
                "ScheduledProcedureStepID": "SPS9",
                "ScheduledProcedureStepDescription": "Scan films",
                "ScheduledProtocolCodeSequence": [
                    {"CodeValue": "SPX", "CodingSchemeDesignator": "99EZP", "CodeMeaning": "Scan"}
                ],
            }
        ],
    }
]


@pytest.fixture
def pacs(tmp_path):
    """``ezp2p serve`` with a worklist: the server and its destination."""
    worklist = tmp_path / "worklist.json"
    worklist.write_text(json.dumps(WORKLIST), encoding="utf-8")
    server = run_server(tmp_path / "storage", 0, worklist=worklist, block=False)
    yield server, Destination("pacs", "EZP2P-PACS", "127.0.0.1", server.server_address[1])
    server.shutdown()


def _png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((32, 48), 128, np.uint8)).save(path)
    return path


def _stored(server, but=()):
    paths = sorted(server.pacs.storage.rglob("*.dcm"))
    (path,) = [p for p in paths if p not in but]
    assert dciodvfy_errors(path) == []
    return path, dcmread(path)


def _first_object(home, server, dest):
    meta = Metadata(
        patient_name="DOE^JANE", study_id="S7", series_description="First", modality="XC"
    )
    send(
        [SendItem.file(_png(home / "first" / "a.png"))],
        meta,
        [dest],
        network=NetworkSettings(),
        outbox_folder=home / "outbox",
        now=THEN,
    )
    return _stored(server)


def test_an_object_added_to_a_series_keeps_its_study_and_series(home, pacs, capsys):
    server, dest = pacs
    first_path, first = _first_object(home, server, dest)
    argv = ["send", str(_png(home / "second" / "b.png")), "--to", dest.address]
    argv += ["--study-uid", first.StudyInstanceUID, "--series-uid", first.SeriesInstanceUID]
    assert main(argv) == 0, capsys.readouterr().err
    assert "warning" not in capsys.readouterr().err
    _, second = _stored(server, but=[first_path])
    for keyword in (
        "StudyDate",
        "StudyTime",
        "StudyID",
        "PatientName",
        "PatientID",
        "IssuerOfPatientID",
        "SeriesDate",
        "SeriesTime",
        "SeriesNumber",
        "Modality",
        "SeriesDescription",
    ):
        assert second[keyword].value == first[keyword].value, keyword
    assert (second.StudyDate, second.SeriesTime) == ("20240102", "101500")
    assert "OriginalAttributesSequence" not in second


def test_a_study_the_pacs_does_not_know_is_said_and_left_empty(home, pacs, capsys):
    server, dest = pacs
    argv = ["send", str(_png(home / "in" / "a.png")), "--to", dest.address]
    assert main([*argv, "--study-uid", "1.2.826.0.1.3680043.8.498.404"]) == 0
    err = capsys.readouterr().err
    assert "has no study 1.2.826.0.1.3680043.8.498.404" in err
    assert "StudyDate, StudyTime, StudyID" in err and "--study-date" in err
    _, ds = _stored(server)
    assert (ds.StudyDate, ds.StudyTime, ds.StudyID) == ("", "", "")


def test_a_pacs_that_cannot_answer_is_named_with_what_is_missing():
    down = Destination("down", "NOBODY", "127.0.0.1", 1)
    meta = Metadata(study_instance_uid="1.2.3", series_instance_uid="1.2.3.4")
    existing = with_existing(meta, down, NetworkSettings(acse_timeout=2, network_timeout=2))
    assert existing.missing == (
        *("StudyDate", "StudyTime", "StudyID"),
        *("SeriesDate", "SeriesTime", "SeriesNumber"),
    )
    assert "the query of down failed" in existing.reason
    assert existing.meta == meta


def test_the_worklist_order_reaches_the_object(home, pacs, capsys):
    server, dest = pacs
    argv = ["send", str(_png(home / "in" / "a.png")), "--to", dest.address]
    argv += ["--from-worklist", "ACC-9", "--worklist", dest.address]
    assert main([*argv, "--patient-name", "Doe^Janet"]) == 0, capsys.readouterr().err
    assert "warning" not in capsys.readouterr().err
    _, ds = _stored(server)
    (request,) = ds.RequestAttributesSequence
    assert (request.RequestedProcedureID, request.ScheduledProcedureStepID) == ("RP9", "SPS9")
    assert request.RequestedProcedureDescription == "Film import"
    assert request.ScheduledProcedureStepDescription == "Scan films"
    assert request.RequestedProcedureCodeSequence[0].CodeValue == "RPX"
    assert request.ScheduledProtocolCodeSequence[0].CodeValue == "SPX"
    assert request.AccessionNumber == ds.AccessionNumber == "ACC-9"
    assert (ds.PatientID, ds.IssuerOfPatientID) == ("WL-9", "HOSP")
    assert ds.StudyDate == datetime.now().strftime("%Y%m%d") and ds.StudyID == "RP9"
    (item,) = ds.OriginalAttributesSequence  # the name the operator typed over the order's
    assert item.ReasonForTheAttributeModification == "CORRECT"
    assert item.ModifiedAttributesSequence[0].PatientName == "Doe^Jane"


def test_convert_into_an_existing_study_says_what_it_cannot_know(home, capsys):
    out = home / "out"
    argv = ["convert", str(_png(home / "in" / "a.png")), "-o", str(out)]
    assert main([*argv, "--study-uid", "1.2.826.0.1.3680043.8.498.405"]) == 0
    err = capsys.readouterr().err
    assert "no PACS is asked for the study" in err
    assert "StudyDate, StudyTime, StudyID" in err and "--study-id" in err
    (written,) = out.glob("*.dcm")
    ds = dcmread(written)
    assert (ds.StudyDate, ds.StudyTime, ds.StudyID) == ("", "", "")
    known = ["--study-date", "2024-01-02", "--study-time", "101500", "--study-id", "7"]
    assert main([*argv, "--study-uid", "1.2.826.0.1.3680043.8.498.405", *known]) == 0
    assert "warning" not in capsys.readouterr().err
