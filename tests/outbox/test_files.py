"""The outbox's instance files: copied byte for byte when they can be, rewritten otherwise."""

from __future__ import annotations

import pydicom

from napari_ezp2p.core import part10
from napari_ezp2p.outbox import Outbox
from napari_ezp2p.outbox import files as files_module
from tests.outbox.test_queue import PACS, make_datasets


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


def test_a_file_whose_meta_disagrees_is_rewritten(tmp_path):
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
