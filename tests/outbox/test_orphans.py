"""Files without rows: those of a process that was killed go at once, unless another
process has the outbox open."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from napari_ezp2p.outbox import Outbox
from napari_ezp2p.outbox.files import WRITERS_DIR, Cleaned
from tests.outbox.test_queue import PACS, make_datasets


def _killed_writer(folder) -> None:
    """The registration a process that ended without closing the outbox leaves, and
    a file it wrote without a row (a second ago)."""
    probe = "from napari_ezp2p.outbox.owners import new_owner; print(new_owner())"
    ended = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    (folder / WRITERS_DIR).mkdir(parents=True, exist_ok=True)
    (folder / WRITERS_DIR / "killed").write_text(ended.stdout.strip())
    orphan = folder / "instances" / "1.2.3.dcm"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"x")
    second_ago = time.time() - 1
    os.utime(orphan, (second_ago, second_ago))


def test_what_a_killed_process_left_goes_at_once(tmp_path):
    with Outbox(tmp_path) as outbox:
        (entry_id,) = outbox.add(make_datasets(1), [PACS])
    _killed_writer(tmp_path)
    with Outbox(tmp_path) as outbox:
        assert outbox.clean_orphans() == Cleaned(files=1, writers_gone=1)
        assert [path.name for path in (tmp_path / "instances").iterdir()] == [
            outbox.get(entry_id).path.name
        ]
        assert len(list((tmp_path / WRITERS_DIR).iterdir())) == 1  # its own
    assert list((tmp_path / WRITERS_DIR).iterdir()) == []


def test_while_another_process_has_the_outbox_open_only_old_orphans_go(tmp_path):
    _killed_writer(tmp_path)
    with Outbox(tmp_path), Outbox(tmp_path) as outbox:  # the other may queue it yet
        assert outbox.clean_orphans() == Cleaned(files=0, writers_gone=1)
        assert (tmp_path / "instances" / "1.2.3.dcm").exists()


def test_files_written_since_the_outbox_was_opened_stay(tmp_path):
    with Outbox(tmp_path) as outbox:
        written = outbox.write(make_datasets(1)[0])  # its row is not in yet
        assert outbox.clean_orphans() == Cleaned()
        assert written.path.exists()


#: Queues the DICOM files of the folder argv[2] into the outbox argv[1] four at a time
#: (copied side by side, then their rows in one transaction), saying "open" first; with
#: argv[3] == "self", kills itself once the second batch is written, before its rows;
#: else waits to be killed once done.
_QUEUER = """
import os, signal, sys, time
from pathlib import Path
from napari_ezp2p.net.destination import Destination
from napari_ezp2p.outbox import Outbox

sources = sorted(Path(sys.argv[2]).iterdir())
outbox = Outbox(sys.argv[1])
print("open", flush=True)
for start in range(0, len(sources), 4):
    written = [outbox.write(path) for path in sources[start : start + 4]]
    if sys.argv[3] == "self" and start == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    outbox.insert(written, [Destination("pacs", "PACS", "127.0.0.1", 11112)])
time.sleep(60)
"""


def _big_dicom_files(folder, count: int) -> dict[str, bytes]:
    """``count`` DICOM files of 4 MB (copies that take a while): their bytes by UID."""
    folder.mkdir()
    found = {}
    for number, ds in enumerate(make_datasets(count), start=1):
        ds.Rows = ds.Columns = 2048
        ds.PixelData = bytes([number]) * (2048 * 2048)
        ds.save_as(folder / f"{number:02d}.dcm", enforce_file_format=True)
        found[str(ds.SOPInstanceUID)] = (folder / f"{number:02d}.dcm").read_bytes()
    return found


@pytest.mark.parametrize("when", ["self", 0.0, 0.05, 0.2])
def test_a_process_killed_while_copying_leaves_no_row_without_its_whole_file(tmp_path, when):
    """SIGKILL between the copies and their rows' commit ("self": right after the second
    batch's copies started), or at some moment of the queueing: every row has its file,
    whole; what has no row goes at once."""
    sources = _big_dicom_files(tmp_path / "in", 12)
    box = tmp_path / "box"
    child = subprocess.Popen(
        [sys.executable, "-c", _QUEUER, str(box), str(tmp_path / "in"), str(when)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline() == "open\n"
        if when != "self":
            time.sleep(when)
            child.send_signal(signal.SIGKILL)
        assert child.wait(60) == -signal.SIGKILL
    finally:
        child.kill()
        child.stdout.close()
    with Outbox(box) as outbox:
        entries = outbox.list()
        if when == "self":
            assert len(entries) == 4, "the first batch's rows, not the second's"
        for entry in entries:
            assert entry.path.read_bytes() == sources[entry.sop_instance_uid]
        cleaned = outbox.clean_orphans()
        assert cleaned.writers_gone == 1
        left = sorted(path.name for path in (box / "instances").iterdir())
        assert left == sorted(entry.path.name for entry in entries)
