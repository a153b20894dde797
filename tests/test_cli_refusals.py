"""``ezp2p send`` and ``queue`` against real peers when an object is refused: nothing
after it is held back, a refusal for good is ``rejected`` (with its reason), a transient
one backs off, and the exit status says whether everything arrived."""

import time
from pathlib import Path

import pydicom
from pydicom.data import get_palette_files, get_testdata_file

import tests.conftest
from napari_ezp2p.cli import main
from napari_ezp2p.outbox import FAILED, REJECTED, SENT, Outbox
from tests.conftest import free_port, start_storescp
from tests.net.helpers import sc_objects

#: Color Palette Storage: neither storescp (Secondary Capture only, see
#: tests.conftest.storescp_config) nor Orthanc accepts its SOP class.
PALETTE = Path(get_palette_files("spring.dcm")[0])


def _dicom_files(folder: Path, count: int, **meta) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, ds in enumerate(sc_objects(count, **meta)):
        paths.append(folder / f"good{number}.dcm")
        ds.save_as(paths[-1], enforce_file_format=True)
    return paths


def _uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def _entries(home: Path) -> list:
    with Outbox(home / "outbox") as outbox:
        return outbox.list()


def test_a_refused_first_object_holds_nothing_back(home, orthanc, storescp, capsys):
    pacs = orthanc()
    good = _dicom_files(home / "in", 3)
    to = ["--to", pacs.destination.address, "--to", storescp.destination.address]
    assert main(["send", str(PALETTE), *map(str, good), *to]) == 1
    out, err = capsys.readouterr()
    for address in (pacs.destination.address, storescp.destination.address):
        assert f"{address}: 3 sent, 1 rejected\n" in out
        assert f"spring.dcm to {address}: rejected: " in err
    assert "accepted no presentation context for Color Palette Storage" in err

    # everything after the refused object arrived
    wanted = {_uid(path) for path in good}
    assert {_uid(path) for path in storescp.received()} == wanted
    stored = pacs.rest("/instances?expand")
    assert {i["MainDicomTags"]["SOPInstanceUID"] for i in stored} == wanted
    entries = _entries(home)
    refused = [e for e in entries if e.sop_instance_uid == _uid(PALETTE)]
    assert [e.state for e in refused] == [REJECTED] * 2
    assert all("Color Palette Storage" in e.last_message for e in refused)
    assert all(e.next_attempt is None and e.attempts == 1 for e in refused)
    assert {e.state for e in entries if e not in refused} == {SENT}

    # `queue list` tells which is which, with the reason
    assert main(["queue", "list", "--state", "rejected"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert all("\trejected\t" in line and "Color Palette Storage" in line for line in lines)

    # a plain retry does not send it again, a forced one does (and it is refused again)
    assert main(["queue", "retry"]) == 0
    err = capsys.readouterr().err
    assert "Nothing was waiting" in err
    assert "2 rejected entries (refused for good) not retried" in err
    assert [e.attempts for e in _entries(home) if e.state == REJECTED] == [1, 1]
    assert main(["queue", "retry", "--rejected"]) == 1
    out, err = capsys.readouterr()
    assert f"{storescp.destination.address}: 0 sent, 1 rejected" in out
    refused = [e for e in _entries(home) if e.state == REJECTED]
    assert [e.attempts for e in refused] == [2, 2]
    assert all("Color Palette Storage" in e.last_message for e in refused)
    assert len(storescp.received()) == 3

    assert main(["queue", "purge", "--state", "rejected"]) == 0
    assert capsys.readouterr().out == "purged 2 entries\n"
    assert {e.state for e in _entries(home)} == {SENT}


def test_orthancs_out_of_resources_is_transient_and_the_rest_arrives(home, orthanc, capsys):
    pacs = orthanc()
    # no Patient ID (nor Study and Series Instance UIDs): Orthanc answers 0xA700
    bad = Path(get_testdata_file("JPEGLSNearLossless_08.dcm"))
    good = _dicom_files(home / "in", 3)
    before = time.time()
    argv = ["send", str(bad), *map(str, good), "--to", pacs.destination.address]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert f"{pacs.destination.address}: 3 sent, 1 not sent (1 kept in the outbox)" in out
    assert "0xA700 Refused: Out of Resources" in err
    stored = pacs.rest("/instances?expand")
    assert {i["MainDicomTags"]["SOPInstanceUID"] for i in stored} == {_uid(p) for p in good}
    (failed,) = [e for e in _entries(home) if e.sop_instance_uid == _uid(bad)]
    assert (failed.state, failed.last_status) == (FAILED, 0xA700)
    assert failed.next_attempt >= before + 30  # backing off, not rejected


def test_send_again_while_entries_back_off_sends_them_now(home, tmp_path, monkeypatch, capsys):
    """Re-running ``send`` of the same DICOM files while their entries wait for a later
    attempt: exit 1 while the PACS is down (tried again, with today's reason), exit 0
    once it is up (sent now, not after the backoff)."""
    files = _dicom_files(home / "in", 2)
    port = free_port()
    argv = ["send", *map(str, files), "--to", f"STORESCP@127.0.0.1:{port}"]
    assert main(argv) == 1
    assert "connection refused" in capsys.readouterr().err
    assert [(e.state, e.attempts) for e in _entries(home)] == [(FAILED, 1)] * 2
    assert all(e.next_attempt > time.time() for e in _entries(home))

    assert main(argv) == 1  # still down
    out, err = capsys.readouterr()
    assert "0 sent, 2 not sent (2 kept in the outbox)" in out
    assert "connection refused" in err
    assert [(e.state, e.attempts) for e in _entries(home)] == [(FAILED, 2)] * 2

    monkeypatch.setattr(tests.conftest, "free_port", lambda: port)
    scp = start_storescp(tmp_path / "storescp")
    try:
        assert main(argv) == 0
        assert "2 sent" in capsys.readouterr().out
        assert {_uid(p) for p in scp.received()} == {_uid(p) for p in files}
    finally:
        scp.peer.stop()
    assert [e.state for e in _entries(home)] == [SENT] * 2
