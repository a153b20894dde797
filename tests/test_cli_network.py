"""The ``ezp2p`` network commands against real peers (Orthanc, dcmtk)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom import dcmread

from napari_ezp2p.cli import main
from napari_ezp2p.outbox import Outbox
from tests.peers import worklist_item

EZP2P = str(Path(sys.executable).parent / "ezp2p")


def _pngs(folder: Path, count: int, size=(64, 80)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(count)
    paths = []
    for n in range(count):
        path = folder / f"image{n:03d}.png"
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_echo_says_success_or_why_not(home, orthanc, capsys):
    pacs = orthanc()
    assert main(["echo", pacs.destination.address]) == 0
    assert "success in" in capsys.readouterr().out
    assert main(["echo", "ORTHANC@127.0.0.1:1"]) == 1
    assert "connection refused" in capsys.readouterr().err


def test_send_to_two_destinations_then_find_it_back(home, orthanc, storescp, capsys):
    pacs = orthanc()
    images = _pngs(home / "in", 2)
    argv = ["send", str(home / "in"), "--to", pacs.destination.address]
    argv += ["--to", storescp.destination.address, "--patient-name", "DOE^JANE"]
    argv += ["--study-description", "Two places", "--ts", "jpeg-ls"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"{pacs.destination.address}: 2 sent" in out
    assert len(pacs.rest("/instances")) == len(images)
    assert len(storescp.received()) == len(images)

    argv = ["find", "--to", pacs.destination.address, "--patient-name", "doe*", "--json"]
    assert main(argv) == 0
    (study,) = json.loads(capsys.readouterr().out)
    assert study["PatientName"] == "DOE^JANE"
    assert study["StudyDescription"] == "Two places"
    assert main(["find", "--to", pacs.destination.address, "--patient-name", "doe*"]) == 0
    (line,) = capsys.readouterr().out.splitlines()  # the Study dock's cells
    assert line.split("\t") == [
        "DOE^JANE",
        study["PatientID"],
        "",
        study["StudyDate"],
        ":".join(study["StudyTime"][i : i + 2] for i in (0, 2, 4)),
        "Two places",
        study["ModalitiesInStudy"],
        "1",
        str(len(images)),
        study["StudyInstanceUID"],
    ]
    assert study["NumberOfStudyRelatedSeries"] == "1"
    argv = ["find", "--to", pacs.destination.address, "--level", "series"]
    argv += ["--study-uid", study["StudyInstanceUID"]]
    assert main([*argv, "--json"]) == 0
    (series,) = json.loads(capsys.readouterr().out)
    assert series["StudyInstanceUID"] == study["StudyInstanceUID"]
    assert main(argv) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.split("\t")[-2:] == [series["SeriesInstanceUID"], study["StudyInstanceUID"]]


def test_find_series_asks_for_the_studies_first(home, hierarchical_orthanc, capsys):
    pacs = hierarchical_orthanc()
    for name in ("DOE^JANE", "DOE^JOHN", "ROE^RICH"):
        _pngs(home / name, 1)
        argv = ["send", str(home / name), "--to", pacs.destination.address]
        assert main([*argv, "--patient-name", name]) == 0, capsys.readouterr().err
    capsys.readouterr()
    argv = ["find", "--to", pacs.destination.address, "--level", "series"]
    assert main([*argv, "--patient-name", "doe*", "--modality", "OT", "--json"]) == 0, (
        capsys.readouterr().err
    )
    found = json.loads(capsys.readouterr().out)
    studies = {
        study["ID"]: study["MainDicomTags"]["StudyInstanceUID"]
        for study in pacs.rest("/studies?expand")
        if study["PatientMainDicomTags"]["PatientName"].startswith("DOE^")
    }
    assert len(studies) == 2
    assert sorted(series["StudyInstanceUID"] for series in found) == sorted(studies.values())
    assert {series["Modality"] for series in found} == {"OT"}


def test_destinations_are_configured_by_name(home, orthanc, capsys):
    pacs = orthanc()
    assert main(["destinations", "add", "pacs", pacs.destination.address, "--ts", "rle"]) == 0
    assert main(["destinations", "list"]) == 0
    assert "pacs" in capsys.readouterr().out and "rle" in (home / "config.toml").read_text()
    _pngs(home / "in", 1)
    assert main(["send", str(home / "in")]) == 0  # the first destination is the default
    (instance,) = pacs.rest("/instances")
    metadata = pacs.rest(f"/instances/{instance}/metadata?expand")
    assert metadata["TransferSyntax"] == "1.2.840.10008.1.2.5"
    assert main(["destinations", "remove", "pacs"]) == 0
    assert main(["send", str(home / "in")]) == 1
    assert "no default destination" in capsys.readouterr().err.lower()


def test_send_takes_the_demographics_from_the_worklist(home, orthanc, wlmscpfs, capsys):
    name = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    worklist = wlmscpfs([worklist_item(name, "ACC-JP")])
    pacs = orthanc()
    _pngs(home / "in", 1)
    argv = ["send", str(home / "in"), "--to", pacs.destination.address]
    argv += ["--from-worklist", "ACC-JP", "--worklist", worklist.destination.address]
    assert main(argv) == 0, capsys.readouterr().err
    (instance,) = pacs.rest("/instances")
    tags = pacs.rest(f"/instances/{instance}/simplified-tags")
    assert tags["PatientName"] == name
    assert tags["PatientID"] == "WL-1"
    assert tags["AccessionNumber"] == "ACC-JP"
    assert tags["StudyInstanceUID"] == "1.2.826.0.1.3680043.8.498.1"
    assert tags["StudyDescription"] == "Film import"

    capsys.readouterr()
    argv = ["worklist", "--to", worklist.destination.address, "--modality", "OT", "--json"]
    assert main(argv) == 0
    (item,) = json.loads(capsys.readouterr().out)
    assert item["PatientName"] == name
    assert main(["worklist", "--to", worklist.destination.address, "--accession", "ACC-JP"]) == 0
    (line,) = capsys.readouterr().out.splitlines()  # the Study dock's cells
    assert line.split("\t")[:4] == [name, "WL-1", "ACC-JP", "20261129"]


def test_a_refused_association_keeps_everything_in_the_outbox(home, orthanc, capsys):
    pacs = orthanc(DicomModalities={}, DicomAlwaysAllowStore=False)
    _pngs(home / "in", 2)
    assert main(["send", str(home / "in"), "--to", pacs.destination.address]) == 1
    captured = capsys.readouterr()
    assert "kept in the outbox" in captured.out
    assert "AE title 'EZP2P'" in captured.err
    with Outbox(home / "outbox") as outbox:
        entries = outbox.list()
    # Orthanc accepts each association and aborts it at the first C-STORE: each object
    # failed over an association of its own; both wait in the outbox for a retry.
    assert len(entries) == 2 and {e.state for e in entries} == {"failed"}
    assert all(e.path.exists() for e in entries)


def test_sigkill_in_the_middle_of_a_study_then_retry_sends_each_instance_once(home, orthanc):
    pacs = orthanc()
    count = 60
    _pngs(home / "in", count, size=(768, 1024))
    env = os.environ | {"EZP2P_OUTBOX": str(home / "outbox")}
    argv = [EZP2P, "send", str(home / "in"), "--to", pacs.destination.address]
    sender = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(pacs.rest("/instances")) < 3:
        assert sender.poll() is None, sender.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    sender.send_signal(signal.SIGKILL)
    sender.wait()
    arrived_before = len(pacs.rest("/instances"))
    assert arrived_before < count, "the whole study went before the kill: nothing was tested"

    retry = subprocess.run([EZP2P, "queue", "retry"], env=env, capture_output=True, text=True)
    assert retry.returncode == 0, retry.stderr
    with Outbox(home / "outbox") as outbox:
        entries = outbox.list()
    assert len(entries) == count and {e.state for e in entries} == {"sent"}
    sent_uids = {dcmread(e.path, stop_before_pixels=True).SOPInstanceUID for e in entries}
    stored = pacs.rest("/instances?expand")
    stored_uids = [i["MainDicomTags"]["SOPInstanceUID"] for i in stored]
    assert len(stored_uids) == count
    assert set(stored_uids) == sent_uids
