"""DICOM files as they come: read with or without preamble and meta, copied with the data
set's bytes unchanged, refused with a DICOM reason when they cannot be read."""

from __future__ import annotations

import struct
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.dsutils import split_dataset

from napari_ezp2p.core.part10 import NotDicomError, read_dicom_file, write_copy

PREAMBLE = b"\0" * 128 + b"DICM"
CLASS_AND_INSTANCE = b"\x08\x00\x16\x00UI\x02\x001\x00\x08\x00\x18\x00UI\x02\x002\x00"


def corpus_bytes(name: str) -> bytes:
    return Path(get_testdata_file(name)).read_bytes()


def data_set_bytes(path) -> bytes:
    """The bytes after a Part 10 file's meta (pynetdicom's reading, not ours)."""
    _, offset = split_dataset(path)
    return path.read_bytes()[offset:]


ODD_JPEG = "SC_rgb_small_odd_jpeg.dcm"  # Secondary Capture, JPEG Baseline
OTHER_UID = "1.2.276.0.7230010.3.1.4.8323329.1100.1521494053.974390"  # as long as its own


def _with_meta_naming(raw: bytearray, meta_uid: str | None) -> bytearray:
    """``raw`` (ODD_JPEG's bytes) with its meta naming the instance ``meta_uid``."""
    if meta_uid is not None:
        uid = pydicom.dcmread(get_testdata_file(ODD_JPEG)).SOPInstanceUID
        start = raw.index(uid.encode())  # the first one is the meta's
        assert len(meta_uid) == len(uid)
        raw[start : start + len(uid)] = meta_uid.encode()
    return raw


def odd_fragment_file(tmp_path, meta_uid: str | None = None) -> Path:
    """ODD_JPEG with its last fragment made odd-length, as GDCM's 00191113.dcm has it,
    and (``meta_uid``) a meta naming another instance."""
    raw = bytearray(corpus_bytes(ODD_JPEG))
    item = raw.rindex(b"\xfe\xff\x00\xe0")  # the last fragment's item tag
    (length,) = struct.unpack_from("<I", raw, item + 4)
    assert length % 2 == 0
    struct.pack_into("<I", raw, item + 4, length - 1)
    del raw[item + 8 + length - 1]  # its pad byte
    path = tmp_path / "odd.dcm"
    path.write_bytes(bytes(_with_meta_naming(raw, meta_uid)))
    return path


def group_length_file(tmp_path, meta_uid: str | None = None) -> Path:
    """ODD_JPEG with a Group Length (0008,0000) first in its data set (pydicom drops
    those when it writes), and (``meta_uid``) a meta naming another instance."""
    ds = pydicom.dcmread(get_testdata_file(ODD_JPEG))
    group = pydicom.Dataset()
    for element in ds.group_dataset(0x0008):
        group.add(element)
    encoded = pydicom.filebase.DicomBytesIO()
    encoded.is_little_endian, encoded.is_implicit_VR = True, False
    pydicom.filewriter.write_dataset(encoded, group)
    _, offset = split_dataset(Path(get_testdata_file(ODD_JPEG)))
    raw = bytearray(corpus_bytes(ODD_JPEG))
    raw[offset:offset] = b"\x08\x00\x00\x00UL\x04\x00" + struct.pack("<I", encoded.tell())
    path = tmp_path / "grouped.dcm"
    path.write_bytes(bytes(_with_meta_naming(raw, meta_uid)))
    return path


@pytest.mark.parametrize(
    ("name", "syntax"),
    [
        ("rtstruct.dcm", ImplicitVRLittleEndian),
        ("ExplVR_LitEndNoMeta.dcm", ExplicitVRLittleEndian),
        ("ExplVR_BigEndNoMeta.dcm", ExplicitVRBigEndian),
    ],
)
def test_a_data_set_without_preamble_or_meta_gets_a_meta_from_itself(tmp_path, name, syntax):
    source = get_testdata_file(name)
    dicom = read_dicom_file(source)
    assert not dicom.conforming and dicom.offset == 0
    copy = write_copy(dicom, tmp_path / "copy.dcm")
    read = pydicom.dcmread(copy)  # a Part 10 file now: no force needed
    assert read.file_meta.TransferSyntaxUID == syntax
    assert read.file_meta.MediaStorageSOPInstanceUID == read.SOPInstanceUID
    assert read.file_meta.MediaStorageSOPClassUID == read.SOPClassUID
    assert data_set_bytes(copy) == corpus_bytes(name)


@pytest.mark.parametrize("make", [odd_fragment_file, group_length_file])
def test_a_meta_that_names_another_instance_is_made_anew_and_the_data_set_kept(tmp_path, make):
    source = make(tmp_path, meta_uid=OTHER_UID)
    dicom = read_dicom_file(source)
    assert not dicom.conforming
    copy = write_copy(dicom, tmp_path / "copy.dcm")
    meta = pydicom.filereader.read_file_meta_info(copy)
    ds = pydicom.dcmread(source)
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID != OTHER_UID
    assert meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
    assert data_set_bytes(copy) == data_set_bytes(source)  # as it was, byte for byte


def test_a_conforming_file_is_copied_whole(tmp_path):
    source = odd_fragment_file(tmp_path)
    dicom = read_dicom_file(source)
    assert dicom.conforming
    assert write_copy(dicom, tmp_path / "copy.dcm").read_bytes() == source.read_bytes()


def _meta(**values) -> bytes:
    meta = pydicom.dataset.FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    for keyword, value in values.items():
        setattr(meta, keyword, value)
    buffer = pydicom.filebase.DicomBytesIO()
    pydicom.filewriter.write_file_meta_info(buffer, meta)
    return PREAMBLE + buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (PREAMBLE, "no SOP Class UID or SOP Instance UID"),  # DICM and nothing
        (PREAMBLE + b"\x02\x00\x10\x00ZZ\x04\x00abcd", "Unknown Value Representation"),
        (_meta() + bytes(range(256)) * 4, "no SOP Class UID"),  # a garbage data set
        (_meta() + b"\x08\x00\x18\x00UI\x04\x001.23" + b"\xff" * 300, "no SOP Class UID"),
        (_meta(TransferSyntaxUID="zzz") + CLASS_AND_INSTANCE, "Transfer Syntax UID 'zzz'"),
        (corpus_bytes("no_meta.dcm"), "no SOP Class UID"),
        (b"", "no SOP Class UID"),
    ],
)
def test_a_file_that_cannot_be_read_says_it_is_not_a_dicom_data_set(tmp_path, content, reason):
    path = tmp_path / "bad.dcm"
    path.write_bytes(content)
    with pytest.raises(NotDicomError, match="^not a DICOM data set: ") as raised:
        read_dicom_file(path)
    assert reason in str(raised.value)
    assert "\n" not in str(raised.value)
