"""The outbox's instance files: copied byte for byte when they can be, only a contradicting
meta made anew otherwise; one instance per SOP Instance UID."""

from __future__ import annotations

import time
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from napari_ezp2p.core import part10
from napari_ezp2p.outbox import FAILED, QUEUED, SENT, Outbox, OutboxError
from napari_ezp2p.outbox import files as files_module
from napari_ezp2p.outbox.files import InstanceConflict
from tests.core.test_part10 import data_set_bytes
from tests.outbox.test_queue import ARCHIVE, PACS, make_datasets


def test_a_part10_file_is_copied_byte_for_byte_reading_only_its_header(tmp_path, monkeypatch):
    ds = make_datasets(1)[0]
    source = tmp_path / "in.dcm"
    ds.save_as(source, enforce_file_format=True)
    with source.open("ab") as stream:  # trailing padding pydicom would not write back
        stream.write(b"\xfc\xff\xfc\xff\x4f\x42\x00\x00\x02\x00\x00\x00\x00\x00")
    read = part10.dcmread

    def header_only(path, *args, **kwargs):
        assert kwargs.get("stop_before_pixels"), "the whole file was decoded"
        return read(path, *args, **kwargs)

    monkeypatch.setattr(part10, "dcmread", header_only)
    monkeypatch.setattr(files_module, "write_atomically", None)  # not re-encoded
    with Outbox(tmp_path / "box") as outbox:
        (entry_id,) = outbox.add([source], [PACS])
        entry = outbox.get(entry_id)
        assert entry.path.read_bytes() == source.read_bytes()
        assert (entry.sop_instance_uid, entry.patient_name) == (ds.SOPInstanceUID, "DOE^JANE")
        assert not list(entry.path.parent.glob("*.part"))


def test_a_file_whose_meta_disagrees_gets_a_new_meta_and_keeps_its_data_set(tmp_path):
    ds = make_datasets(1)[0]
    ds.save_as(tmp_path / "in.dcm", enforce_file_format=True)
    raw = (tmp_path / "in.dcm").read_bytes()
    meta_uid = ds.file_meta.MediaStorageSOPInstanceUID.encode()
    other = meta_uid[:-1] + (b"8" if meta_uid[-1:] != b"8" else b"7")
    (tmp_path / "in.dcm").write_bytes(raw.replace(meta_uid, other, 1))  # meta only
    with Outbox(tmp_path / "box") as outbox:
        (entry_id,) = outbox.add([tmp_path / "in.dcm"], [PACS])
        written = pydicom.dcmread(outbox.get(entry_id).path)
        assert written.SOPInstanceUID == ds.SOPInstanceUID
        assert written.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert data_set_bytes(outbox.get(entry_id).path) == data_set_bytes(tmp_path / "in.dcm")


MR_SMALL, MR_TRUNCATED = "MR_small.dcm", "MR_truncated.dcm"  # one SOP Instance UID


@pytest.mark.parametrize(("first", "then"), [(MR_SMALL, MR_TRUNCATED), (MR_TRUNCATED, MR_SMALL)])
def test_other_bytes_under_a_queued_uid_are_refused_unless_replaced(tmp_path, first, then):
    first, then = get_testdata_file(first), get_testdata_file(then)
    with Outbox(tmp_path / "box") as outbox:
        ids = outbox.add([first], [PACS, ARCHIVE])
        outbox.mark_sent(ids[0], 0)
        outbox.mark_failed([ids[1]], "refused", 0xA700)
        path = outbox.get(ids[0]).path
        with pytest.raises(InstanceConflict, match="other bytes.*--replace"):
            outbox.add([then], [PACS])
        assert path.read_bytes() == Path(first).read_bytes()  # nothing chosen silently
        assert [e.state for e in outbox.list()] == [SENT, FAILED]

        assert outbox.add([then], [PACS], replace=True) == [ids[0]]
        assert path.read_bytes() == Path(then).read_bytes()
        entries = outbox.list()
        assert [(e.id, e.state, e.attempts, e.last_status) for e in entries] == [
            (ids[0], QUEUED, 0, None),
            (ids[1], QUEUED, 0, None),  # the archive gets the new bytes too
        ]
        assert all(e.next_attempt <= time.time() for e in entries)
        assert "replaced" in entries[0].last_message


def test_the_same_file_twice_is_one_instance(tmp_path):
    source = get_testdata_file(MR_SMALL)
    with Outbox(tmp_path / "box") as outbox:
        (entry_id,) = outbox.add([source], [PACS])
        outbox.mark_sent(entry_id, 0)
        assert outbox.add([source, source], [PACS]) == [entry_id, entry_id]
        assert outbox.add([source], [PACS], replace=True) == [entry_id]
        assert outbox.get(entry_id).state == SENT  # the same bytes: nothing to send again


def test_an_instance_being_sent_is_not_replaced(tmp_path):
    with Outbox(tmp_path / "box") as outbox:
        (entry_id,) = outbox.add([get_testdata_file(MR_SMALL)], [PACS])
        outbox.claim([entry_id])
        with pytest.raises(OutboxError, match="being sent"):
            outbox.add([get_testdata_file(MR_TRUNCATED)], [PACS], replace=True)
        assert (
            outbox.get(entry_id).path.read_bytes()
            == Path(get_testdata_file(MR_SMALL)).read_bytes()
        )
