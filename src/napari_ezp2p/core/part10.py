"""DICOM files as they come, and their Part 10 copies with the data set's bytes unchanged.

Like storescu, we take what we are given: a file may lack the preamble or the file meta
(pydicom reads it with ``force=True``), or have a meta that contradicts its data set
(another SOP Instance UID or class). :func:`read_dicom_file` reads its header and makes
the file meta its copy gets from the data set; :func:`write_copy` writes that meta, then
the data set's own bytes, never re-encoded (re-encoding would drop group lengths and
re-pad odd-length fragments). A conforming file is copied whole.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from pydicom import Dataset, dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.filebase import DicomFileLike
from pydicom.filereader import read_dataset, read_preamble
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from .errors import Ezp2pError
from .filecopy import copy_rest
from .files import atomic_file

#: What pydicom raises on a malformed file: its decoders have no one error for that.
MALFORMED = (
    InvalidDicomError,
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    NotImplementedError,
    OverflowError,
    LookupError,
    struct.error,
)
#: The header keywords the outbox shows; decoded when the file is read, so that a
#: malformed one refuses the file there.
SHOWN = ("StudyInstanceUID", "PatientName", "PatientID", "SeriesDescription")
#: Values longer than this are not read with the header (pydicom seeks past them).
_DEFER_SIZE = 1024
_COPY_BUFFER = 1 << 20
_PREAMBLE = b"\0" * 128
#: The syntax of a data set without a file meta, from how pydicom found it encoded
#: (implicit VR, little endian).
_SYNTAX_OF_ENCODING = {
    (True, True): ImplicitVRLittleEndian,
    (False, True): ExplicitVRLittleEndian,
    (False, False): ExplicitVRBigEndian,
}


class NotDicomError(Ezp2pError):
    """A file that cannot be read as a DICOM data set (the message says why)."""


@dataclass(frozen=True)
class DicomFile:
    """A DICOM file read up to its Pixel Data.

    ``header.file_meta`` is the meta its copy has (made from the data set where the
    file's own is missing or contradicts it); the data set starts at byte ``offset``;
    ``conforming`` (a preamble, and a meta that names the data set) means the file is
    copied as it is.
    """

    path: Path
    header: Dataset
    offset: int
    conforming: bool

    @property
    def transfer_syntax(self) -> UID:
        return self.header.file_meta.TransferSyntaxUID


def read_dicom_file(path: str | os.PathLike[str]) -> DicomFile:
    """Read the header of the DICOM file at ``path``, preamble and file meta or not.

    Raises NotDicomError ("not a DICOM data set: …") when pydicom cannot read it, or it
    has no SOP Class and Instance UIDs, and Ezp2pError when the file cannot be opened.
    """
    path = Path(path)
    try:
        header = dcmread(path, force=True, stop_before_pixels=True, defer_size=_DEFER_SIZE)
        offset = _data_set_offset(path)
        sop_class, sop_instance = header.get("SOPClassUID"), header.get("SOPInstanceUID")
        for keyword in SHOWN:
            str(header.get(keyword, ""))
    except OSError as error:
        raise Ezp2pError(f"cannot read {path}: {error.strerror or error}") from error
    except MALFORMED as error:
        raise NotDicomError(f"not a DICOM data set: {error or type(error).__name__}") from error
    if not (sop_class and sop_instance):
        raise NotDicomError("not a DICOM data set: it has no SOP Class UID or SOP Instance UID")
    meta = getattr(header, "file_meta", None) or FileMetaDataset()
    conforming = (
        header.preamble is not None
        and bool(meta.get("TransferSyntaxUID"))
        and meta.get("MediaStorageSOPClassUID") == sop_class
        and meta.get("MediaStorageSOPInstanceUID") == sop_instance
    )
    header.file_meta = _meta_for(header, meta)
    syntax = header.file_meta.TransferSyntaxUID
    if not UID(syntax).is_valid:
        raise NotDicomError(f"not a DICOM data set: its Transfer Syntax UID {syntax!r} is no UID")
    return DicomFile(path, header, offset, conforming)


def _data_set_offset(path: Path) -> int:
    """Where the data set starts: after the preamble and the file meta, if any."""
    with path.open("rb") as stream:
        read_preamble(stream, force=True)
        read_dataset(stream, False, True, stop_when=lambda tag, vr, length: tag.group != 2)
        return stream.tell()


def _meta_for(header: Dataset, meta: FileMetaDataset) -> FileMetaDataset:
    """The file's meta, naming the data set's SOP class and instance, with a Transfer
    Syntax UID (from how the data set is encoded when the file has none)."""
    fixed = FileMetaDataset(meta)
    fixed.MediaStorageSOPClassUID = header.SOPClassUID
    fixed.MediaStorageSOPInstanceUID = header.SOPInstanceUID
    if not fixed.get("TransferSyntaxUID"):
        fixed.TransferSyntaxUID = _SYNTAX_OF_ENCODING[header.original_encoding[:2]]
    return fixed


def write_copy(dicom: DicomFile, path: Path) -> Path:
    """Write ``dicom`` to ``path`` as a Part 10 file, whole or not at all: the file as it
    is when conforming, else a preamble, its meta, and the data set's bytes unchanged."""
    with atomic_file(path) as out, dicom.path.open("rb") as source:
        if not dicom.conforming:
            out.write((dicom.header.preamble or _PREAMBLE) + b"DICM")
            write_file_meta_info(DicomFileLike(out), FileMetaDataset(dicom.header.file_meta))
            source.seek(dicom.offset)
        copy_rest(source, out)
    return path


def same_data_set(one: DicomFile, other: DicomFile) -> bool:
    """Whether both files hold the same data set: the same syntax and the same bytes."""
    if one.transfer_syntax != other.transfer_syntax:
        return False
    if one.path.stat().st_size - one.offset != other.path.stat().st_size - other.offset:
        return False
    with one.path.open("rb") as first, other.path.open("rb") as second:
        first.seek(one.offset)
        second.seek(other.offset)
        while chunk := first.read(_COPY_BUFFER):
            if chunk != second.read(len(chunk)):
                return False
    return True
