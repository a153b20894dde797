"""Taking studies back out of the local PACS: dcmtk getscu (Patient Root and Study
Root C-GET), findscu -P at PATIENT level, and C-MOVE to a dcmtk storescp."""

from __future__ import annotations

import json
import subprocess
import urllib.request

from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import build_context
from pynetdicom.sop_class import SecondaryCaptureImageStorage

from napari_ezp2p.core.identity import new_uid
from napari_ezp2p.core.metadata import Metadata
from tests.conftest import free_port, start_storescp
from tests.devpacs.helpers import associate, findscu, port_of, sc_objects
from tests.peers import require_tool


def _store_study(server, patient_id: str, count: int = 2) -> Metadata:
    meta = Metadata(
        patient_name="Doe^Jane",
        patient_id=patient_id,
        study_instance_uid=new_uid(),
        series_instance_uid=new_uid(),
    )
    assoc = associate(
        server, [build_context(SecondaryCaptureImageStorage, ExplicitVRLittleEndian)]
    )
    try:
        for ds in sc_objects("explicit-le", meta, count=count):
            assert assoc.send_c_store(ds).Status == 0x0000
    finally:
        assoc.release()
    return meta


def _getscu(server, folder, model: str, *keys: str) -> subprocess.CompletedProcess:
    folder.mkdir()
    args = [require_tool("getscu"), model, "-aec", "EZP2P-PACS", "-od", str(folder)]
    for key in keys:
        args += ["-k", key]
    args += ["127.0.0.1", str(port_of(server))]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def test_getscu_takes_a_study_back_out_patient_and_study_root(start, tmp_path):
    server = start()
    meta = _store_study(server, "P1")
    _store_study(server, "P2")
    for model, keys in (
        ("-P", [f"PatientID={meta.patient_id}", f"StudyInstanceUID={meta.study_instance_uid}"]),
        ("-S", [f"StudyInstanceUID={meta.study_instance_uid}"]),
    ):
        folder = tmp_path / f"got{model}"
        result = _getscu(server, folder, model, "QueryRetrieveLevel=STUDY", *keys)
        assert result.returncode == 0, result.stderr
        got = [dcmread(path) for path in folder.iterdir()]
        assert len(got) == 2
        assert {ds.StudyInstanceUID for ds in got} == {meta.study_instance_uid}


def test_getscu_patient_level_takes_all_of_a_patient(start, tmp_path):
    server = start()
    _store_study(server, "P1", count=1)
    _store_study(server, "P1", count=2)
    _store_study(server, "P2", count=1)
    folder = tmp_path / "got"
    result = _getscu(server, folder, "-P", "QueryRetrieveLevel=PATIENT", "PatientID=P1")
    assert result.returncode == 0, result.stderr
    assert {dcmread(p).PatientID for p in folder.iterdir()} == {"P1"}
    assert len(list(folder.iterdir())) == 3


def test_a_retrieve_without_its_unique_key_is_refused(start, tmp_path):
    server = start()
    _store_study(server, "P1")
    folder = tmp_path / "got"
    result = _getscu(server, folder, "-S", "QueryRetrieveLevel=SERIES", "StudyInstanceUID=1.2")
    assert not list(folder.iterdir())
    assert "DataSetDoesNotMatchSOPClass" in result.stderr


def test_findscu_finds_the_patient_at_patient_level(start, tmp_path):
    server = start()
    _store_study(server, "P1", count=2)
    _store_study(server, "P1", count=1)
    _store_study(server, "P2", count=1)
    answers = findscu(
        "-P",
        server,
        tmp_path / "find",
        "QueryRetrieveLevel=PATIENT",
        "PatientID=P1",
        "PatientName",
        "NumberOfPatientRelatedStudies",
        "NumberOfPatientRelatedInstances",
    )
    assert len(answers) == 1
    (answer,) = answers
    assert answer.PatientID == "P1" and str(answer.PatientName) == "Doe^Jane"
    assert answer.NumberOfPatientRelatedStudies == 2
    assert answer.NumberOfPatientRelatedInstances == 3


def test_patient_root_study_level_find(start, tmp_path):
    server = start()
    meta = _store_study(server, "P1")
    answers = findscu(
        "-P",
        server,
        tmp_path / "find",
        "QueryRetrieveLevel=STUDY",
        "PatientID=P1",
        "StudyInstanceUID",
    )
    assert [a.StudyInstanceUID for a in answers] == [meta.study_instance_uid]


def test_c_move_to_a_known_destination(start, tmp_path):
    receiver = start_storescp(tmp_path / "movedest", ae_title="MOVEDEST")
    try:
        _move(start, receiver)
    finally:
        receiver.peer.stop()


def _move(start, receiver) -> None:
    server = start(move_destinations=(receiver.destination,))
    meta = _store_study(server, "P1")
    args = [require_tool("movescu"), "-S", "-aec", "EZP2P-PACS", "-aem", "MOVEDEST"]
    args += ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={meta.study_instance_uid}"]
    args += ["127.0.0.1", str(port_of(server))]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    received = [dcmread(p) for p in receiver.received()]
    assert len(received) == 2
    unknown = args.copy()
    unknown[unknown.index("MOVEDEST")] = "NOBODY"
    result = subprocess.run(unknown, capture_output=True, text=True, timeout=60)
    assert "MoveDestinationUnknown" in result.stderr, result.stderr


def _post(orthanc, path: str, body: dict) -> object:
    request = urllib.request.Request(
        orthanc.http + path, data=json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def test_orthanc_moves_a_study_out(start, orthanc):
    """Orthanc 1.10 has no C-GET as SCU: C-MOVE to itself, a known move destination."""
    port = free_port()
    peer = orthanc(DicomModalities={"pacs": ["EZP2P-PACS", "127.0.0.1", port]})
    server = start(port=port, move_destinations=(peer.destination,))
    meta = _store_study(server, "P1")
    _store_study(server, "P2")
    resources = [{"StudyInstanceUID": meta.study_instance_uid}]
    _post(peer, "/modalities/pacs/move", {"Level": "Study", "Resources": resources})
    (study,) = peer.rest("/studies")
    assert peer.rest(f"/studies/{study}")["MainDicomTags"]["StudyInstanceUID"] == (
        meta.study_instance_uid
    )
    assert len(peer.rest("/instances")) == 2


def test_the_patient_level_is_patient_roots_alone_and_bounded_like_the_others(start):
    from pynetdicom.sop_class import (
        PatientRootQueryRetrieveInformationModelFind,
        StudyRootQueryRetrieveInformationModelFind,
    )

    from tests.devpacs.helpers import study_query

    server = start()
    for patient in ("P1", "P2", "P3"):
        _store_study(server, patient, count=1)
    query = study_query("PATIENT", PatientID="P*", PatientName="")
    for model, expected in (
        (StudyRootQueryRetrieveInformationModelFind, [0xA900]),  # no patient level there
        (PatientRootQueryRetrieveInformationModelFind, [0xFF00, 0xA700]),  # past the bound
    ):
        server.pacs.find_answer_limit = 1
        assoc = associate(server, [build_context(model, ExplicitVRLittleEndian)])
        try:
            statuses = [status.Status for status, _ in assoc.send_c_find(query, model)]
        finally:
            assoc.release()
        assert statuses == expected
