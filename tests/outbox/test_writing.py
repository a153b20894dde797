"""DICOM files copied into the outbox side by side: their rows wait for them, the same
instance waits for its earlier copy, and a copy that fails fails its item alone."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from napari_ezp2p.core.errors import FileWriteError
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.jobs.send import SendItem, queue
from napari_ezp2p.outbox import FAILED, QUEUED, Outbox, writing
from napari_ezp2p.outbox import queue as queue_module
from tests.outbox.test_queue import PACS, make_datasets


def dicom_files(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, ds in enumerate(make_datasets(count), start=1):
        path = folder / f"{number}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


@pytest.fixture
def slow_copies(monkeypatch):
    """Every copy takes 0.2 s more; how many ran at once, at most, is counted."""
    copy = writing.write_instance
    lock, running, most = threading.Lock(), [0], [0]

    def slow(source, path):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.2)
        copy(source, path)
        with lock:
            running[0] -= 1

    monkeypatch.setattr(writing, "write_instance", slow)
    return most


def test_copies_run_side_by_side_and_rows_wait_for_them(tmp_path, slow_copies, monkeypatch):
    def restored(*args):
        raise AssertionError("the file was not there when its rows went in: copied again")

    monkeypatch.setattr(queue_module, "restore_file", restored)
    sources = dicom_files(tmp_path / "in", 6)
    with Outbox(tmp_path / "box") as outbox:
        started = time.monotonic()
        written = [outbox.write(path) for path in sources]
        assert time.monotonic() - started < 0.2, "write waited for the copy"
        ids = outbox.insert(written, [PACS])
        for entry_id, source in zip(ids, sources, strict=True):
            assert outbox.get(entry_id).path.read_bytes() == source.read_bytes()
        assert not list((tmp_path / "box" / "instances").glob(".*.part"))
    assert slow_copies[0] > 1, "the copies ran one after the other"


def test_the_same_file_again_waits_for_its_first_copy(tmp_path, slow_copies):
    (source,) = dicom_files(tmp_path / "in", 1)
    with Outbox(tmp_path / "box") as outbox:
        first, second = outbox.write(source), outbox.write(source)  # no conflict with itself
        assert (first.path, second.replaced) == (second.path, False)
        assert outbox.insert([first, second], [PACS]) == [1, 1]


def test_a_copy_that_fails_fails_its_item_alone(tmp_path, monkeypatch):
    sources = dicom_files(tmp_path / "in", 3)
    copy = writing.write_instance

    def full_for_the_second(source, path):
        if source.path == sources[1]:
            raise FileWriteError(28, "No space left on device", str(path))
        copy(source, path)

    monkeypatch.setattr(writing, "write_instance", full_for_the_second)
    with Outbox(tmp_path / "box") as outbox:
        items = [SendItem.file(path) for path in sources]
        report = queue(items, Metadata(), [PACS], outbox, now=datetime(2026, 12, 2))
        assert [(row.label, row.state) for row in report.rows] == [
            (str(sources[1]), FAILED),
            (str(sources[0]), QUEUED),
            (str(sources[2]), QUEUED),
        ]
        assert "No space left" in report.rows[0].message
        assert len(outbox.list()) == 2
