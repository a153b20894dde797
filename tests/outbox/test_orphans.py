"""Files without rows: those of a process that was killed go at once, unless another
process has the outbox open."""

from __future__ import annotations

import os
import subprocess
import sys
import time

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
