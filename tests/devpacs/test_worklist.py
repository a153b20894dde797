"""Modality Worklist FIND over the local PACS's JSON worklist file, with pynetdicom and
with dcmtk's findscu."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import build_context
from pynetdicom.sop_class import ModalityWorklistInformationFind

from napari_ezp2p.devpacs.errors import ServerError
from napari_ezp2p.devpacs.server import run_server
from napari_ezp2p.devpacs.worklist import load_worklist
from tests.devpacs.helpers import associate, find, findscu

JAPANESE = "Yamada^Tarou=山田^太郎=やまだ^たろう"


WORKLIST = [
    {
        "PatientName": JAPANESE,
        "PatientID": "JP001",
        "PatientBirthDate": "19700101",
        "PatientSex": "M",
        "AccessionNumber": "ACC1",
        "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.100",
        "RequestedProcedureDescription": "Film digitization",
        "ScheduledProcedureStepSequence": [
            {
                "Modality": "OT",
                "ScheduledStationAETitle": "EZP2P",
                "ScheduledProcedureStepStartDate": "20261129",
                "ScheduledProcedureStepStartTime": "0900",
                "ScheduledProcedureStepDescription": "Scan films",
            },
            {
                "Modality": "XC",
                "ScheduledStationAETitle": "CAMERA",
                "ScheduledProcedureStepStartDate": "20261201",
                "ScheduledProcedureStepStartTime": "1000",
            },
        ],
    },
    {
        "PatientName": "Smith^Anna",
        "PatientID": "P3",
        "AccessionNumber": "ACC2",
        "ScheduledProcedureStepSequence": [
            {
                "Modality": "OT",
                "ScheduledStationAETitle": "EZP2P",
                "ScheduledProcedureStepStartDate": "20261130",
            }
        ],
    },
]


@pytest.fixture
def worklist_file(tmp_path) -> Path:
    path = tmp_path / "worklist.json"
    path.write_text(json.dumps(WORKLIST, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def worklist_server(tmp_path_factory):
    """A server over a worklist file that the tests using it do not change."""
    folder = tmp_path_factory.mktemp("worklist")
    path = folder / "worklist.json"
    path.write_text(json.dumps(WORKLIST, ensure_ascii=False), encoding="utf-8")
    server = run_server(folder / "storage", 0, worklist=path, block=False)
    yield server
    server.shutdown()


def _worklist_query(**sps) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = ""
    ds.PatientID = ""
    ds.AccessionNumber = ""
    step = Dataset()
    step.Modality = ""
    step.ScheduledStationAETitle = ""
    step.ScheduledProcedureStepStartDate = ""
    for keyword, value in sps.items():
        setattr(step, keyword, value)
    ds.ScheduledProcedureStepSequence = [step]
    return ds


def _steps(found) -> list[tuple[str, str, str]]:
    return sorted(
        (ds.PatientID, ds.ScheduledProcedureStepSequence[0].Modality, ds.AccessionNumber)
        for ds in found
    )


def test_worklist_find_by_japanese_name(worklist_server):
    server = worklist_server
    query = _worklist_query()
    query.PatientName = "山田*"
    found = find(server, query, ModalityWorklistInformationFind)
    assert _steps(found) == [("JP001", "OT", "ACC1"), ("JP001", "XC", "ACC1")]
    assert str(found[0].PatientName) == JAPANESE
    assert found[0].SpecificCharacterSet == "ISO_IR 192"
    # Only the keys asked for, inside the sequence too.
    assert "PatientBirthDate" not in found[0]
    assert "ScheduledProcedureStepDescription" not in found[0].ScheduledProcedureStepSequence[0]
    # The alphabetic group matches too, without regard to case.
    query.PatientName = "yamada^tarou"
    assert len(find(server, query, ModalityWorklistInformationFind)) == 2


@pytest.mark.parametrize(
    ("sps", "expected"),
    [
        ({"Modality": "OT"}, [("JP001", "OT", "ACC1"), ("P3", "OT", "ACC2")]),
        ({"ScheduledStationAETitle": "CAMERA"}, [("JP001", "XC", "ACC1")]),
        (
            {"ScheduledProcedureStepStartDate": "20261130-"},
            [
                ("JP001", "XC", "ACC1"),
                ("P3", "OT", "ACC2"),
            ],
        ),
        ({"ScheduledProcedureStepStartDate": "20261129"}, [("JP001", "OT", "ACC1")]),
        ({}, [("JP001", "OT", "ACC1"), ("JP001", "XC", "ACC1"), ("P3", "OT", "ACC2")]),
    ],
)
def test_worklist_matching_inside_the_step_sequence(worklist_server, sps, expected):
    server = worklist_server
    found = find(server, _worklist_query(**sps), ModalityWorklistInformationFind)
    assert _steps(found) == expected


def test_worklist_file_is_read_again_when_it_changes(start, worklist_file):
    server = start(worklist=worklist_file)
    query = _worklist_query()
    query.AccessionNumber = "ACC3"
    assert find(server, query, ModalityWorklistInformationFind) == []
    items = [*WORKLIST, {**WORKLIST[1], "AccessionNumber": "ACC3", "PatientID": "P4"}]
    worklist_file.write_text(json.dumps(items, ensure_ascii=False) + "\n", encoding="utf-8")
    assert _steps(find(server, query, ModalityWorklistInformationFind)) == [("P4", "OT", "ACC3")]


def test_findscu_worklist_query(worklist_server, tmp_path):
    (answer,) = findscu(
        "-W",
        worklist_server,
        tmp_path / "findscu",
        "SpecificCharacterSet=ISO_IR 192",
        "PatientName=山田*",
        "PatientID",
        "ScheduledProcedureStepSequence[0].Modality=OT",
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=20261101-20261130",
    )
    assert str(answer.PatientName) == JAPANESE
    assert answer.PatientID == "JP001"
    assert answer.ScheduledProcedureStepSequence[0].Modality == "OT"


def test_broken_worklist_files_are_clear_errors(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"PatientName": "A^B",}\n]', encoding="utf-8")
    with pytest.raises(ServerError, match=r"broken.json, line 2.*invalid JSON"):
        load_worklist(path)
    path.write_text('[{"PatientNmae": "A^B"}]', encoding="utf-8")
    with pytest.raises(ServerError, match=r"item 1: 'PatientNmae' is not a DICOM keyword"):
        load_worklist(path)
    with pytest.raises(ServerError, match="is not a DICOM keyword"):
        run_server(tmp_path / "storage", 0, worklist=path, block=False)


def test_worklist_find_is_bounded_in_time_and_answers(start, worklist_file, caplog):
    server = start(worklist=worklist_file)
    assoc = associate(
        server, [build_context(ModalityWorklistInformationFind, ExplicitVRLittleEndian)]
    )
    try:
        server.pacs.find_answer_limit = 1
        results = list(assoc.send_c_find(_worklist_query(), ModalityWorklistInformationFind))
        assert [status.Status for status, _ in results] == [0xFF00, 0xA700]
        assert results[-1][0].ErrorComment == "more than 1 matches: narrow the query"
        server.pacs.find_seconds = 0
        results = list(assoc.send_c_find(_worklist_query(), ModalityWorklistInformationFind))
        assert [status.Status for status, _ in results] == [0xA700]
        assert "took over 0 s" in results[-1][0].ErrorComment
    finally:
        assoc.release()
    assert "stopped a query from TESTSCU@127.0.0.1: more than 1 matches" in caplog.text
