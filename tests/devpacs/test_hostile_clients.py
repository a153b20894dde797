"""``ezp2p serve`` against hostile and broken clients: a backtracking wildcard, a UID
sent as LO with wildcards, queries past the bounds, stores that fail the checks, bad
files in its storage, patient names in its log. The real command runs in its own
process where a test is about the process (CPU, restart, log)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from pydicom import Dataset, dcmread
from pydicom.dataelem import DataElement
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_context
from pynetdicom.sop_class import (
    SecondaryCaptureImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
)

from napari_ezp2p.cli.logs import MAX_LINE
from napari_ezp2p.core.metadata import Metadata
from tests.broken_objects import instance_number_overflowing, pixel_data_claiming_4_gib, sc_file
from tests.conftest import Peer, free_port
from tests.devpacs.helpers import associate, find, findscu, stored_files, study_query
from tests.peers import require_tool

FIND = StudyRootQueryRetrieveInformationModelFind
SERVER_AE = "EZP2P-PACS"


class Served:
    """``ezp2p serve`` in its own process, on a free port (``server_address`` as the
    helpers want it)."""

    def __init__(self, folder, storage, *options: str) -> None:
        port = free_port()
        self.server_address = ("127.0.0.1", port)
        args = [sys.executable, "-m", "napari_ezp2p.cli", "serve", "--port", str(port)]
        self.peer = Peer("ezp2p-serve", [*args, "--storage", str(storage), *options], folder)
        self.peer.wait_ready(port, SERVER_AE)

    def log(self) -> str:
        return self.peer.output()


@pytest.fixture
def serve(tmp_path):
    started = []

    def _serve(storage, *options: str) -> Served:
        folder = tmp_path / f"serve-{len(started)}"
        folder.mkdir()
        started.append(Served(folder, storage, *options))
        return started[-1]

    yield _serve
    for served in started:
        served.peer.stop()


def _find_statuses(server, query: Dataset, syntax=ExplicitVRLittleEndian):
    ae = AE(ae_title="TESTSCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    assoc = ae.associate(
        *server.server_address, contexts=[build_context(FIND, syntax)], ae_title=SERVER_AE
    )
    assert assoc.is_established
    try:
        return list(assoc.send_c_find(query, FIND))
    finally:
        assoc.release()


def _archive(storage, names):
    """One study per patient name, written into ``storage`` as ``serve`` keeps it."""
    for n, name in enumerate(names):
        path = sc_file(storage / "incoming.dcm", Metadata(patient_name=name), seed=n)
        ds = dcmread(path)
        folder = storage / ds.StudyInstanceUID / ds.SeriesInstanceUID
        folder.mkdir(parents=True)
        path.rename(folder / f"{ds.SOPInstanceUID}.dcm")


def test_a_backtracking_wildcard_is_answered_at_once_and_echoes_go_on(serve, tmp_path):
    storage = tmp_path / "storage"
    _archive(storage, ["a" * 64])
    server = serve(storage)
    found = {}

    def query():
        started = time.monotonic()
        pattern = "*a" * 12 + "*b"
        found["results"] = _find_statuses(server, study_query("STUDY", PatientName=pattern))
        found["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=query, daemon=True)
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    echo = subprocess.run(
        [
            require_tool("echoscu"),
            "-to",
            "5",
            "-aec",
            SERVER_AE,
            "127.0.0.1",
            str(server.server_address[1]),
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert echo.returncode == 0, echo.stderr
    assert time.monotonic() - started < 2
    thread.join(15)
    assert found["seconds"] < 2
    assert [status.Status for status, _ in found["results"]] == [0x0000]


@pytest.mark.parametrize("value", ["*", "2.25.*", "*.*", "?*"])
def test_a_study_uid_sent_as_lo_with_wildcards_matches_nothing(start, tmp_path, value):
    storage = tmp_path / "storage"
    _archive(storage, ["Doe^John", "Doe^Jane"])
    server = start(storage)
    assert len(find(server, study_query("STUDY", StudyInstanceUID=""))) == 2
    query = study_query("STUDY")
    query.add(DataElement(0x0020000D, "LO", value))
    assert find(server, query) == []


def test_a_study_uid_sent_as_lo_still_matches_as_a_uid_list(start, tmp_path):
    storage = tmp_path / "storage"
    _archive(storage, ["Doe^John", "Doe^Jane"])
    server = start(storage)
    uids = sorted(
        ds.StudyInstanceUID for ds in find(server, study_query("STUDY", StudyInstanceUID=""))
    )
    query = study_query("STUDY")
    query.add(DataElement(0x0020000D, "LO", "\\".join(uids)))
    answers = find(server, query)
    assert sorted(a.StudyInstanceUID for a in answers) == uids
    assert all(a["StudyInstanceUID"].VR == "UI" for a in answers)


def test_a_find_past_its_answer_bound_stops_with_out_of_resources(start, tmp_path):
    storage = tmp_path / "storage"
    _archive(storage, ["Doe^A", "Doe^B", "Doe^C"])
    server = start(storage)
    server.pacs.find_answer_limit = 2
    results = _find_statuses(server, study_query("STUDY", PatientName="Doe*"))
    assert [status.Status for status, _ in results] == [0xFF00, 0xFF00, 0xA700]
    assert "more than 2 matches" in results[-1][0].ErrorComment
    server.pacs.find_answer_limit = 3
    results = _find_statuses(server, study_query("STUDY", PatientName="Doe*"))
    assert [status.Status for status, _ in results] == [0xFF00] * 3 + [0x0000]


def test_a_find_past_its_time_bound_stops_with_out_of_resources(start, tmp_path):
    storage = tmp_path / "storage"
    _archive(storage, ["Doe^A"])
    server = start(storage)
    server.pacs.find_seconds = 0
    results = _find_statuses(server, study_query("STUDY", PatientName="Doe*"))
    assert [status.Status for status, _ in results] == [0xA700]
    assert "the search took over 0 s" in results[-1][0].ErrorComment


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        (pixel_data_claiming_4_gib, "Pixel Data holds 3 bytes, its image needs 2560"),
        (instance_number_overflowing, "InstanceNumber cannot be decoded"),
    ],
)
def test_a_store_that_fails_its_checks_is_refused_and_writes_nothing(
    start, tmp_path, broken, reason
):
    storage = tmp_path / "storage"
    server = start(storage)
    path = broken(tmp_path / "broken.dcm")
    good = sc_file(tmp_path / "good.dcm")
    assoc = associate(
        server, [build_context(SecondaryCaptureImageStorage, ExplicitVRLittleEndian)]
    )
    try:
        status = assoc.send_c_store(path)
        assert status.Status == 0xC000
        assert reason in status.ErrorComment
        # The association goes on: a whole object after it is stored.
        assert assoc.send_c_store(good).Status == 0x0000
    finally:
        assoc.release()
    assert [p.name for p in stored_files(storage)] == [f"{dcmread(good).SOPInstanceUID}.dcm"]
    assert not [p for p in storage.rglob("*") if p.is_file() and p.suffix != ".dcm"]


def test_a_restart_skips_bad_files_in_its_storage_with_the_reason(serve, tmp_path):
    storage = tmp_path / "storage"
    _archive(storage, ["Doe^Kept"])
    planted = storage / "1.2.3" / "1.2.3.4"
    planted.mkdir(parents=True)
    overflow = instance_number_overflowing(planted / "overflow.dcm")
    garbage = planted / "garbage.dcm"
    garbage.write_bytes(b"\x00" * 128 + b"DICM" + b"\xff" * 64)
    server = serve(storage)
    (answer,) = find(server, study_query("STUDY", PatientName=""))
    assert answer.PatientName == "Doe^Kept"
    log = server.log()
    assert f"skipping {overflow}: (0020,0013) InstanceNumber cannot be decoded" in log
    assert f"skipping {garbage}: " in log
    assert "Traceback" not in log


def test_the_default_log_holds_no_patient_data_and_no_long_line(serve, tmp_path):
    storage = tmp_path / "storage"
    server = serve(storage)
    secret = sc_file(
        tmp_path / "secret.dcm", Metadata(patient_name="Secret^Name", patient_id="SECRETID")
    )
    stored = subprocess.run(
        [
            require_tool("storescu"),
            "-aec",
            SERVER_AE,
            "127.0.0.1",
            str(server.server_address[1]),
            secret,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert stored.returncode == 0, stored.stderr
    (answer,) = findscu(
        "-S",
        server,
        tmp_path / "findscu",
        "QueryRetrieveLevel=STUDY",
        "PatientName=Secret*",
        "PatientID",
    )
    assert answer.PatientID == "SECRETID"
    huge = study_query("STUDY", PatientName="Secret" + "x" * 1_000_000)
    results = _find_statuses(server, huge, syntax=ImplicitVRLittleEndian)
    assert [status.Status for status, _ in results] == [0x0000]
    log = server.log()
    assert "C-FIND study from" in log and "1 answers" in log
    assert "secret" not in log.lower()
    assert max(len(line) for line in log.splitlines()) <= MAX_LINE


def test_the_debug_log_shows_query_keys_cut_short(serve, tmp_path):
    server = serve(tmp_path / "storage", "--debug")
    huge = study_query("STUDY", PatientName="Secret" + "x" * 1_000_000)
    assert [s.Status for s, _ in _find_statuses(server, huge, syntax=ImplicitVRLittleEndian)] == [
        0
    ]
    log = server.log()
    assert "PatientName='Secretxxxxxxxxxxxxxxxxxxxxxxxxxx'" in log
    assert max(len(line) for line in log.splitlines()) <= MAX_LINE
