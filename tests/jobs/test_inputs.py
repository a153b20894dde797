"""What a send or convert takes: DICOM files as they come (no preamble, no meta, a meta
that contradicts), one instance per SOP Instance UID, and every file of a folder
accounted for."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmwrite
from pydicom.data import get_testdata_file

from napari_ezp2p.cli import main
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.jobs.inputs import collect_inputs
from napari_ezp2p.jobs.send import SendItem, queue
from napari_ezp2p.outbox import FAILED, QUEUED, Outbox
from tests.conftest import start_storescp
from tests.core.test_part10 import OTHER_UID, PREAMBLE, _meta, data_set_bytes, group_length_file
from tests.outbox.test_queue import ARCHIVE, PACS, make_datasets

MR_SMALL, MR_TRUNCATED = "MR_small.dcm", "MR_truncated.dcm"  # one SOP Instance UID


def _queue(outbox: Outbox, paths, replace: bool = False):
    items = [SendItem.file(path) for path in paths]
    return queue(items, Metadata(), [PACS, ARCHIVE], outbox, replace=replace, now=datetime.now())


def _states(report) -> list[tuple[str, str]]:
    """(file name, state) of every row, sorted."""
    return sorted((Path(row.label).name, row.state) for row in report.rows)


@pytest.mark.parametrize(("first", "then"), [(MR_SMALL, MR_TRUNCATED), (MR_TRUNCATED, MR_SMALL)])
def test_two_objects_under_one_uid_in_one_send_are_never_a_silent_choice(tmp_path, first, then):
    paths = [get_testdata_file(first), get_testdata_file(then)]
    with Outbox(tmp_path / "box") as outbox:
        report = _queue(outbox, paths)
        assert _states(report) == sorted([(first, QUEUED)] * 2 + [(then, FAILED)] * 2)
        failed = [r.message for r in report.rows if r.state == FAILED]
        assert all("other bytes" in message for message in failed)
        (path,) = outbox.instances.iterdir()
        assert path.read_bytes() == Path(paths[0]).read_bytes()

    with Outbox(tmp_path / "replaced") as outbox:
        report = _queue(outbox, paths, replace=True)  # the later one wins, the first says so
        assert _states(report) == sorted([(first, FAILED)] * 2 + [(then, QUEUED)] * 2)
        failed = [r.message for r in report.rows if r.state == FAILED]
        assert all(message.startswith(f"replaced by {paths[1]}") for message in failed)
        (path,) = outbox.instances.iterdir()
        assert path.read_bytes() == Path(paths[1]).read_bytes()
        assert len(outbox.list()) == 2


def test_a_file_given_twice_is_one_entry(tmp_path):
    path = get_testdata_file(MR_SMALL)
    with Outbox(tmp_path / "box") as outbox:
        report = _queue(outbox, [path, path])
        assert [row.state for row in report.rows] == [QUEUED] * 4
        assert len({row.entry_id for row in report.rows}) == 2  # one per destination
        assert len(outbox.list()) == 2


def _same_uid_files(folder: Path) -> tuple[Path, Path]:
    """Two Secondary Capture files with one SOP Instance UID, for other patients."""
    ds = make_datasets(1)[0]
    ds.save_as(folder / "first.dcm", enforce_file_format=True)
    ds.PatientName = "ROE^RICHARD"
    ds.save_as(folder / "second.dcm", enforce_file_format=True)
    return folder / "first.dcm", folder / "second.dcm"


def test_send_refuses_other_bytes_under_a_sent_uid_and_replace_sends_them(tmp_path, capsys):
    scp = start_storescp(tmp_path / "scp", extra=["+B"])
    try:
        home = ["--config", str(tmp_path / "c.toml"), "--outbox", str(tmp_path / "outbox")]
        send = [*home, "send", "--to", scp.destination.address]
        first, second = _same_uid_files(tmp_path)
        assert main([*send, str(first)]) == 0
        capsys.readouterr()
        assert main([*send, str(second)]) == 1
        err = capsys.readouterr().err
        assert "second.dcm: another object with SOP Instance UID" in err and "--replace" in err
        assert [data_set_bytes(p) for p in scp.received()] == [data_set_bytes(first)]
        assert main([*send, "--replace", str(second)]) == 0, capsys.readouterr()
        latest = max(scp.received(), key=lambda p: p.stat().st_mtime_ns)
        assert data_set_bytes(latest) == data_set_bytes(second)
    finally:
        scp.peer.stop()


def test_a_contradicting_meta_is_made_anew_and_the_data_set_arrives_bit_for_bit(tmp_path):
    source = group_length_file(tmp_path, meta_uid=OTHER_UID)
    scp = start_storescp(tmp_path / "scp", extra=["+B"])
    try:
        home = ["--config", str(tmp_path / "c.toml"), "--outbox", str(tmp_path / "outbox")]
        assert main([*home, "send", "--to", scp.destination.address, str(source)]) == 0
        (received,) = scp.received()
    finally:
        scp.peer.stop()
    assert data_set_bytes(received) == data_set_bytes(source)  # its group length kept


def test_a_folder_sends_data_sets_without_meta_and_names_every_file_it_cannot_take(
    tmp_path, capsys
):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    bare = make_datasets(1)[0]
    del bare.file_meta  # no preamble, no meta: what storescu sends as it is
    dcmwrite(folder / "sub" / "IM0001", bare, implicit_vr=True, little_endian=True)
    (folder / "README.txt").write_text("a note")
    shutil.copy(get_testdata_file("no_meta.dcm"), folder / "broken.dcm")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / ".sync").mkdir()
    (folder / ".sync" / "state").write_text("x")
    found, hidden = collect_inputs([folder])
    assert [p.name for p in found] == ["README.txt", "broken.dcm", "IM0001"]
    assert sorted(p.name for p in hidden) == [".DS_Store", "state"]

    scp = start_storescp(tmp_path / "scp", extra=["+B"])
    try:
        home = ["--config", str(tmp_path / "c.toml"), "--outbox", str(tmp_path / "outbox")]
        assert main([*home, "send", "--to", scp.destination.address, str(folder)]) == 1
        (received,) = scp.received()
    finally:
        scp.peer.stop()
    assert data_set_bytes(received) == (folder / "sub" / "IM0001").read_bytes()
    err = capsys.readouterr().err
    assert "README.txt: not an image, video, PDF or DICOM file" in err
    assert "left out 2 hidden files" in err and ".DS_Store" in err
    assert "broken.dcm: not a DICOM data set: " in err
    assert "Traceback" not in err


def test_convert_and_send_say_one_line_for_broken_dicom_and_go_on(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    broken = {
        "empty-meta.dcm": PREAMBLE,
        "garbage-meta.dcm": PREAMBLE + b"\x02\x00\x10\x00ZZ\x04\x00abcd",
        "garbage.dcm": _meta() + b"\x08\x00\x18\x00UI\x04\x001.23" + bytes(range(256)) * 8,
    }
    for name, content in broken.items():
        (folder / name).write_bytes(content)
    png = folder / "z.png"
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(png)
    paths = [str(folder / name) for name in broken]

    assert main(["convert", *paths, str(png), "-o", str(tmp_path / "out")]) == 1
    out, err = capsys.readouterr()
    assert "z.png" in out  # the batch went on
    lines = err.splitlines()
    for name in broken:
        (line,) = [line for line in lines if name in line]
        assert "not a DICOM data set: " in line
    assert "Traceback" not in err

    home = ["--config", str(tmp_path / "c.toml"), "--outbox", str(tmp_path / "outbox")]
    assert main([*home, "send", "--to", "X@127.0.0.1:9", *paths]) == 1
    err = capsys.readouterr().err
    for name in broken:  # each named, those failing alike on one line
        assert any(name in line and "not a DICOM data set: " in line for line in err.splitlines())
    assert "Traceback" not in err
