"""The local PACS behind ``ezp2p serve``: real associations on 127.0.0.1, with pynetdicom
and with dcmtk's echoscu/storescu/findscu as third-party clients."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from pydicom import Dataset, dcmread
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_context
from pynetdicom.sop_class import (
    ModalityWorklistInformationFind,
    SecondaryCaptureImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from napari_ezp2p.core.convert import convert_images, write_atomically
from napari_ezp2p.core.identity import IMPLEMENTATION_CLASS_UID, new_uid
from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.transfer import transfer_syntax
from napari_ezp2p.net.server import ServerError, load_worklist, run_server, value_matches
from tests.peers import require_tool

NOW = datetime(2026, 11, 29, 10, 0, 0)
JAPANESE = "Yamada^Tarou=山田^太郎=やまだ^たろう"


def _image(seed: int = 0, shape=(32, 40)) -> SourceImage:
    rng = np.random.default_rng(seed)
    return SourceImage.from_array(rng.integers(0, 4096, shape, dtype=np.uint16))


def _objects(key: str, meta: Metadata, count: int = 1, seed: int = 0) -> list[Dataset]:
    images = [_image(seed + n) for n in range(count)]
    return convert_images(images, meta, transfer_syntax(key), now=NOW)


def _stored_files(storage: Path) -> list[Path]:
    return sorted(storage.glob("*/*/*.dcm"))


@pytest.fixture
def start(tmp_path):
    """Start servers (non-blocking, free port); all are stopped after the test."""
    servers = []

    def _start(storage=None, **kwargs):
        server = run_server(storage or tmp_path / "storage", 0, block=False, **kwargs)
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.shutdown()


def _port(server) -> int:
    return server.server_address[1]


def _associate(server, contexts):
    ae = AE(ae_title="TESTSCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    assoc = ae.associate("127.0.0.1", _port(server), contexts=contexts, ae_title="EZP2P-PACS")
    assert assoc.is_established
    return assoc


def _find(server, query: Dataset, model=StudyRootQueryRetrieveInformationModelFind):
    assoc = _associate(server, [build_context(model, ExplicitVRLittleEndian)])
    try:
        results = list(assoc.send_c_find(query, model))
    finally:
        assoc.release()
    statuses = [status.Status for status, _ in results]
    assert statuses[-1] == 0x0000, [hex(s) for s in statuses]
    assert all(s == 0xFF00 for s in statuses[:-1])
    return [identifier for _, identifier in results[:-1]]


def _query(level: str, **keys) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


# --------------------------------------------------------------------------- echo / store


def test_echo_with_pynetdicom_and_echoscu(start):
    server = start()
    assoc = _associate(server, [build_context(Verification, ImplicitVRLittleEndian)])
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()
    result = subprocess.run(
        [require_tool("echoscu"), "-aec", "EZP2P-PACS", "127.0.0.1", str(_port(server))],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr


def test_accepted_sockets_have_nagle_turned_off(start):
    server = start()
    assoc = _associate(server, [build_context(Verification, ImplicitVRLittleEndian)])
    try:
        (accepted,) = server.active_associations
        sock = accepted.dul.socket.socket
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        assoc.release()


def test_store_in_three_syntaxes_lands_as_files_and_survives_restart(start, tmp_path):
    storage = tmp_path / "storage"
    server = run_server(storage, 0, block=False)
    meta = Metadata(
        patient_name="Doe^John",
        patient_id="P1",
        study_instance_uid=new_uid(),
        series_instance_uid=new_uid(),
    )
    objects = {
        key: _objects(key, meta, seed=n)[0]
        for n, key in enumerate(("explicit-le", "jpeg-ls", "rle"))
    }
    contexts = [
        build_context(SecondaryCaptureImageStorage, transfer_syntax(key).uid) for key in objects
    ]
    try:
        assoc = _associate(server, contexts)
        for ds in objects.values():
            assert assoc.send_c_store(ds).Status == 0x0000
        # The same instance again replaces its file.
        assert assoc.send_c_store(objects["rle"]).Status == 0x0000
        assoc.release()
    finally:
        server.shutdown()

    files = _stored_files(storage)
    assert len(files) == 3
    for key, ds in objects.items():
        path = storage / ds.StudyInstanceUID / ds.SeriesInstanceUID / f"{ds.SOPInstanceUID}.dcm"
        stored = dcmread(path)
        assert stored.file_meta.TransferSyntaxUID == transfer_syntax(key).uid
        assert stored.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert stored.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
        np.testing.assert_array_equal(stored.pixel_array, ds.pixel_array)
    assert not list(storage.rglob("*.part"))

    # A new server over the same folder rebuilds its index from the files.
    again = start(storage)
    ds = next(iter(objects.values()))
    found = _find(again, _query("SERIES", StudyInstanceUID="", NumberOfSeriesRelatedInstances=""))
    assert len(found) == 1
    assert found[0].StudyInstanceUID == ds.StudyInstanceUID
    assert found[0].NumberOfSeriesRelatedInstances == 3


def test_several_associations_at_once_store_one_series(start, tmp_path):
    from napari_ezp2p.net.destination import Destination, NetworkSettings
    from napari_ezp2p.net.store import store

    storage = tmp_path / "storage"
    server = start(storage)
    meta = Metadata(patient_name="Doe^Jane", study_instance_uid=new_uid())
    objects = _objects("explicit-le", meta, count=16)
    dest = Destination("local", "EZP2P-PACS", "127.0.0.1", _port(server), associations=4)
    report = store(objects, dest, NetworkSettings(ae_title="TESTSCU"))
    assert report.ok, report.error
    assert len(_stored_files(storage)) == 16
    (series,) = _find(server, _query("SERIES", NumberOfSeriesRelatedInstances=""))
    assert series.NumberOfSeriesRelatedInstances == 16


def test_storescu_stores_into_the_server(start, tmp_path):
    storage = tmp_path / "storage"
    server = start(storage)
    ds = _objects("explicit-le", Metadata(patient_name="Dcmtk^Sent", patient_id="P9"))[0]
    source = write_atomically(ds, tmp_path / "one.dcm")
    result = subprocess.run(
        [require_tool("storescu"), "-aec", "EZP2P-PACS", "127.0.0.1", str(_port(server)), source],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    (path,) = _stored_files(storage)
    assert path.name == f"{ds.SOPInstanceUID}.dcm"
    assert str(dcmread(path).PatientName) == "Dcmtk^Sent"


def test_an_object_without_valid_uids_is_refused_and_not_written(start, tmp_path):
    storage = tmp_path / "storage"
    server = start(storage)
    ds = _objects("explicit-le", Metadata(patient_id="P1"))[0]
    ds.StudyInstanceUID = "../../evil"
    assoc = _associate(
        server, [build_context(SecondaryCaptureImageStorage, ExplicitVRLittleEndian)]
    )
    status = assoc.send_c_store(ds)
    assoc.release()
    assert status.Status == 0xC000
    assert not list(tmp_path.rglob("*.dcm"))


def test_a_taken_port_is_a_clear_error(start, tmp_path):
    server = start()
    with pytest.raises(ServerError, match="cannot listen on 127.0.0.1"):
        run_server(tmp_path / "other", _port(server), block=False)


# --------------------------------------------------------------------------- study root find


STUDIES = [
    # (name, id, date, time, accession, modality, description)
    ("Doe^John", "P1", "20240115", "083000", "A1", "OT", "Chest films"),
    ("DOE^Jane", "P2", "20240620", "141500", "A2", "XC", "Hand photo"),
    ("Smith^Anna", "P3", "20250301", "120000", "A3", "OT", "Scanned report"),
]


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A server over a storage folder holding three studies (two series in the first),
    written as files before it starts, so every query also proves the index is rebuilt
    from the folder. Shared by the tests of this module that only query it."""
    storage = tmp_path_factory.mktemp("archive")
    uids = []
    for n, (name, pid, date, hour, acc, modality, description) in enumerate(STUDIES):
        meta = Metadata(
            patient_name=name,
            patient_id=pid,
            study_date=date,
            study_time=hour,
            accession_number=acc,
            modality=modality,
            study_description=description,
            series_description="first",
        )
        objects = _objects("explicit-le", meta, count=2, seed=10 * n)
        study_uid = objects[0].StudyInstanceUID
        series = [objects]
        if n == 0:
            second = Metadata(
                **{**meta.__dict__, "study_instance_uid": study_uid, "series_number": 2}
            )
            second.series_description = "second"
            second.modality = "XC"
            series.append(_objects("explicit-le", second, count=1, seed=99))
        for members in series:
            for ds in members:
                folder = storage / ds.StudyInstanceUID / ds.SeriesInstanceUID
                folder.mkdir(parents=True, exist_ok=True)
                write_atomically(ds, folder / f"{ds.SOPInstanceUID}.dcm")
        uids.append(study_uid)
    server = run_server(storage, 0, block=False)
    yield server, uids
    server.shutdown()


def _names(found) -> list[str]:
    return sorted(str(ds.PatientName) for ds in found)


def test_study_find_universal_returns_every_study_and_only_the_requested_keys(archive):
    server, uids = archive
    found = _find(
        server, _query("STUDY", PatientName="", StudyInstanceUID="", ModalitiesInStudy="")
    )
    assert _names(found) == ["DOE^Jane", "Doe^John", "Smith^Anna"]
    first = next(ds for ds in found if ds.StudyInstanceUID == uids[0])
    assert list(first.ModalitiesInStudy) == ["OT", "XC"]
    assert {elem.keyword for elem in first} == {
        "SpecificCharacterSet",
        "QueryRetrieveLevel",
        "PatientName",
        "StudyInstanceUID",
        "ModalitiesInStudy",
    }
    assert first.SpecificCharacterSet == "ISO_IR 192"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"PatientName": "Doe*"}, ["DOE^Jane", "Doe^John"]),  # wildcard, PN case-insensitive
        ({"PatientName": "doe^john"}, ["Doe^John"]),  # single value, PN case-insensitive
        ({"PatientName": "?mith^An?a"}, ["Smith^Anna"]),
        ({"PatientName": "D.e*"}, []),  # a dot is a dot, not a regex
        ({"PatientID": "p1"}, []),  # other VRs are case-sensitive
        ({"AccessionNumber": "A2"}, ["DOE^Jane"]),
        ({"StudyDescription": "*photo"}, ["DOE^Jane"]),
        ({"StudyDate": "20240101-20241231"}, ["DOE^Jane", "Doe^John"]),
        ({"StudyDate": "20250101-"}, ["Smith^Anna"]),
        ({"StudyDate": "-20240131"}, ["Doe^John"]),
        ({"StudyDate": "20240620"}, ["DOE^Jane"]),
        ({"StudyTime": "1200-"}, ["DOE^Jane", "Smith^Anna"]),
        ({"StudyTime": "-0830"}, ["Doe^John"]),
        ({"ModalitiesInStudy": "XC"}, ["DOE^Jane", "Doe^John"]),
        ({"StudyDate": "2024*", "PatientName": "*Jane"}, ["DOE^Jane"]),
    ],
)
def test_study_find_matching(archive, keys, expected):
    server, _ = archive
    assert _names(_find(server, _query("STUDY", **{"PatientName": "", **keys}))) == expected


def test_study_find_uid_list(archive):
    server, uids = archive
    found = _find(server, _query("STUDY", StudyInstanceUID=[uids[0], uids[2]], PatientName=""))
    assert sorted(ds.StudyInstanceUID for ds in found) == sorted([uids[0], uids[2]])


def test_series_find_within_a_study(archive):
    server, uids = archive
    query = _query(
        "SERIES",
        StudyInstanceUID=uids[0],
        SeriesInstanceUID="",
        Modality="",
        SeriesNumber="",
        SeriesDescription="",
        NumberOfSeriesRelatedInstances="",
    )
    found = sorted(_find(server, query), key=lambda ds: ds.SeriesNumber)
    assert [(ds.Modality, ds.SeriesNumber, ds.SeriesDescription) for ds in found] == [
        ("OT", 1, "first"),
        ("XC", 2, "second"),
    ]
    assert [ds.NumberOfSeriesRelatedInstances for ds in found] == [2, 1]
    only_xc = _find(server, _query("SERIES", StudyInstanceUID=uids[0], Modality="X?"))
    assert len(only_xc) == 1


def test_unsupported_level_is_refused(archive):
    server, _ = archive
    assoc = _associate(
        server, [build_context(StudyRootQueryRetrieveInformationModelFind, ExplicitVRLittleEndian)]
    )
    (status, identifier), *_ = list(
        assoc.send_c_find(_query("PATIENT"), StudyRootQueryRetrieveInformationModelFind)
    )
    assoc.release()
    assert status.Status == 0xA900
    assert identifier is None


def _findscu(model: str, server, folder, *keys: str) -> list:
    """dcmtk findscu against ``server`` with ``-k`` keys; its answers, as datasets."""
    folder.mkdir()
    args = [require_tool("findscu"), model, "-aec", "EZP2P-PACS", "-X"]
    for key in keys:
        args += ["-k", key]
    args += ["127.0.0.1", str(_port(server))]
    result = subprocess.run(args, capture_output=True, text=True, timeout=30, cwd=folder)
    assert result.returncode == 0, result.stderr
    return [dcmread(path) for path in sorted(folder.glob("rsp*.dcm"))]


def test_findscu_study_query(archive, tmp_path):
    server, uids = archive
    (answer,) = _findscu(
        "-S",
        server,
        tmp_path / "findscu",
        "QueryRetrieveLevel=STUDY",
        "PatientName=Doe*",
        "StudyDate=20240101-20240131",
        "StudyInstanceUID",
    )
    assert answer.StudyInstanceUID == uids[0]
    assert str(answer.PatientName) == "Doe^John"


# --------------------------------------------------------------------------- worklist


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
    found = _find(server, query, ModalityWorklistInformationFind)
    assert _steps(found) == [("JP001", "OT", "ACC1"), ("JP001", "XC", "ACC1")]
    assert str(found[0].PatientName) == JAPANESE
    assert found[0].SpecificCharacterSet == "ISO_IR 192"
    # Only the keys asked for, inside the sequence too.
    assert "PatientBirthDate" not in found[0]
    assert "ScheduledProcedureStepDescription" not in found[0].ScheduledProcedureStepSequence[0]
    # The alphabetic group matches too, without regard to case.
    query.PatientName = "yamada^tarou"
    assert len(_find(server, query, ModalityWorklistInformationFind)) == 2


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
    found = _find(server, _worklist_query(**sps), ModalityWorklistInformationFind)
    assert _steps(found) == expected


def test_worklist_file_is_read_again_when_it_changes(start, worklist_file):
    server = start(worklist=worklist_file)
    query = _worklist_query()
    query.AccessionNumber = "ACC3"
    assert _find(server, query, ModalityWorklistInformationFind) == []
    items = [*WORKLIST, {**WORKLIST[1], "AccessionNumber": "ACC3", "PatientID": "P4"}]
    worklist_file.write_text(json.dumps(items, ensure_ascii=False) + "\n", encoding="utf-8")
    assert _steps(_find(server, query, ModalityWorklistInformationFind)) == [("P4", "OT", "ACC3")]


def test_findscu_worklist_query(worklist_server, tmp_path):
    (answer,) = _findscu(
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


# --------------------------------------------------------------------------- matching rules


@pytest.mark.parametrize(
    ("vr", "query", "values", "expected"),
    [
        ("LO", "", [], True),
        ("LO", "*", [], True),
        ("LO", "a", [], False),
        ("LO", "a(b", ["a(b"], True),  # regex metacharacters are literal
        ("LO", "a[bc]", ["ab"], False),  # no character classes as in fnmatch
        ("LO", "a?c", ["abc"], True),
        ("LO", "a?c", ["abbc"], False),
        ("PN", "YAMADA*", ["Yamada^Tarou=山田^太郎"], True),
        ("PN", "山田^太郎", ["Yamada^Tarou=山田^太郎"], True),
        ("PN", "Yamada^Tarou^^", ["Yamada^Tarou"], True),
        ("DA", "20260101-20261231", ["20261129"], True),
        ("DA", "20260101-20261231", ["20270101"], False),
        ("DA", "20260101-20261231", [], False),
        ("TM", "0900-1000", ["10:00:30"], True),
        ("TM", "0900-1000", ["100100"], False),
        ("UI", "1.2\\1.3", ["1.3"], True),
        ("UI", "1.2\\1.3", ["1.23"], False),
        ("UI", "1.*", ["1.2"], False),  # no wildcards on UIDs
        ("CS", "OT", ["XC", "OT"], True),
    ],
)
def test_value_matches(vr, query, values, expected):
    assert value_matches(vr, query, values) is expected


def test_image_level_find(archive):
    server, uids = archive
    query = _query("IMAGE", StudyInstanceUID=uids[1], SOPInstanceUID="", InstanceNumber="")
    found = _find(server, query)
    assert sorted(ds.InstanceNumber for ds in found) == [1, 2]


def test_blocking_server_stops_on_ctrl_c(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        "import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout);"
        "from napari_ezp2p.net.server import run_server;"
        f"run_server({str(tmp_path / 'storage')!r}, {port}, block=True); print('stopped')"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        ae = AE(ae_title="TESTSCU")
        ae.add_requested_context(Verification)
        deadline = time.monotonic() + 30
        while True:
            assoc = ae.associate("127.0.0.1", port, ae_title="EZP2P-PACS")
            if assoc.is_established:
                assert assoc.send_c_echo().Status == 0x0000
                assoc.release()
                break
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert "listening on 127.0.0.1" in output
    assert output.rstrip().endswith("stopped")
