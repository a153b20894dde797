"""pydicom's bundled test files as a corpus, their data sets, and what the peers hold.

The corpus is the files pydicom installs with itself (``pydicom.data``); nothing is
downloaded. A data set is compared in bytes where the peer keeps them (storescp ``+B``,
see ``conftest.py``), else element by element (:func:`reencoded`, for Orthanc).
"""

from __future__ import annotations

import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.data import data_manager, get_testdata_files
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_dataset, read_preamble

from tests.conftest import Orthanc, StoreScp

#: Files of pydicom's test data that are no DICOM at all (notes, dumps, JSON, an ICC
#: profile, a gzip archive): left out of the corpus by their names.
NOT_DICOM_SUFFIXES = (".txt", ".dump", ".json", ".icc", ".gz", ".py")
NOT_DICOM_NAMES = ("README",)


def corpus_files(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The DICOM files pydicom installed with itself, sorted by their path in its data.

    pydicom's data manager would download the files of its online store that the
    pattern matches: the download is made to fail the test instead.
    """

    def no_download(name, *args, **kwargs):
        pytest.fail(f"pydicom tried to download {name}: the corpus is what is installed")

    monkeypatch.setattr(data_manager, "data_path_with_download", no_download)
    root = Path(data_manager.DATA_ROOT) / "test_files"
    files = [Path(name) for name in get_testdata_files()]
    assert files and all(root in path.parents for path in files)
    return sorted(
        (
            path
            for path in files
            if path.is_file()
            and path.suffix not in NOT_DICOM_SUFFIXES
            and path.name not in NOT_DICOM_NAMES
        ),
        key=lambda path: path.relative_to(root).as_posix(),
    )


def corpus_name(path: Path) -> str:
    """A corpus file's name: its path inside pydicom's ``test_files`` folder."""
    return path.relative_to(Path(data_manager.DATA_ROOT) / "test_files").as_posix()


def _not_meta(tag, vr, length) -> bool:
    return tag.group != 0x0002


def dataset_bytes(data: bytes) -> bytes:
    """The bytes of a DICOM file's data set: what follows its preamble and file meta
    (either may be missing), as they would go over the network."""
    with pydicom.filebase.DicomBytesIO(data) as fp:
        read_preamble(fp, force=True)
        # the file meta is explicit VR little endian whatever the data set's syntax
        read_dataset(fp, is_implicit_VR=False, is_little_endian=True, stop_when=_not_meta)
        return data[fp.tell() :]


def padded(data: bytes) -> bytes:
    """``data`` as a data set goes over the network: of even length (PS3.5 A.5 pads an
    odd-length deflated stream with one null byte)."""
    return data + b"\0" if len(data) % 2 else data


def sop_instance_uid(data: bytes) -> str | None:
    """The SOP Instance UID of a file's data set (its meta's when the data set has none)."""
    try:
        ds = pydicom.dcmread(
            pydicom.filebase.DicomBytesIO(data), force=True, stop_before_pixels=True
        )
        uid = ds.get("SOPInstanceUID") or ds.file_meta.get("MediaStorageSOPInstanceUID")
    except (InvalidDicomError, ValueError, KeyError, EOFError, OSError):
        return None
    return str(uid) if uid else None


# ---------------------------------------------------------------------------------------
# What arrived


@dataclass(frozen=True)
class Arrived:
    """One object a peer holds: the bytes of its file and of its data set."""

    file: bytes

    @property
    def dataset(self) -> bytes:
        return dataset_bytes(self.file)


def stored_by_storescp(scp: StoreScp) -> dict[str, list[Arrived]]:
    """What storescp wrote (one file per object received), by SOP Instance UID."""
    found = defaultdict(list)
    for path in scp.received():
        data = path.read_bytes()
        found[sop_instance_uid(data) or path.name].append(Arrived(data))
    return dict(found)


def stored_by_orthanc(pacs: Orthanc) -> dict[str, list[Arrived]]:
    """What Orthanc stored (one instance per UID), as ``/instances/{id}/file`` gives it."""
    found = defaultdict(list)
    for instance in pacs.rest("/instances?expand"):
        uid = instance["MainDicomTags"]["SOPInstanceUID"]
        url = f"{pacs.http}/instances/{instance['ID']}/file"
        with urllib.request.urlopen(url, timeout=10) as response:
            found[uid].append(Arrived(response.read()))
    return dict(found)


# ---------------------------------------------------------------------------------------
# What Orthanc keeps


def elements(ds: pydicom.Dataset) -> list[tuple]:
    """A data set's elements as (tag, value), group lengths left out, each sequence as
    the list of its items' elements: what stays when a peer encodes the data set again
    (Orthanc drops group lengths and gives sequences and items explicit lengths).
    A value pydicom cannot convert is compared as read, in raw bytes."""
    out = []
    for raw in ds.elements():
        if raw.tag.element == 0:
            continue
        try:
            element = ds[raw.tag]
        except (ValueError, TypeError, KeyError, OverflowError):
            out.append((raw.tag, raw.value))
            continue
        if element.VR == "SQ":
            out.append((raw.tag, [elements(item) for item in element.value]))
        else:
            out.append((raw.tag, element.value))
    return out


def reencoded(data: bytes) -> tuple[str, list[tuple]]:
    """A file's transfer syntax and its data set's :func:`elements`."""
    ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data), force=True)
    return str(ds.file_meta.get("TransferSyntaxUID", "")), elements(ds)
