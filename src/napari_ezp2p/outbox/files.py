"""The outbox's instance files: one Part 10 file per instance, written whole or not at all.

A dataset is written by ``write_atomically``; a DICOM file goes as it is, its data set's
bytes unchanged (:func:`~napari_ezp2p.core.part10.write_copy`: only a missing or
contradicting file meta is made anew). Each file is written atomically (temporary file,
fsync, rename); the folder is fsynced before rows refer to its files, and files no row
refers to are orphans to clean up: each process that has the outbox open says so in
``writers/``, so that the orphans of one that was killed can go at once.

An instance's file is written once: the same object again is the same instance, while
another object under its SOP Instance UID is refused unless it is to replace it.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Set
from contextlib import suppress
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from pydicom import Dataset, dcmwrite

from ..core.convert import write_atomically
from ..core.files import atomic_file
from ..core.part10 import DicomFile, read_dicom_file, same_data_set, write_copy
from .database import OutboxError
from .owners import new_owner, owner_gone

WRITERS_DIR = "writers"
#: A registration still being written after this many seconds is one of a process killed.
_REGISTERING = 60.0
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")

#: What the outbox takes: a dataset, a DICOM file read already, or a DICOM file's path.
Source = Dataset | DicomFile | str | os.PathLike[str]


@dataclass(frozen=True)
class Written:
    """An instance whose file :meth:`Outbox.write` put in the outbox: what its rows say.

    ``source`` is the DICOM file it came from (to copy again should the outbox file be
    purged before the rows go in), None for a dataset. ``replaced``: the file replaced
    another object's under the same SOP Instance UID, whose rows are to be sent again.
    """

    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    patient_name: str
    patient_id: str
    series_description: str
    path: Path
    source: DicomFile | None = None
    replaced: bool = False


class InstanceConflict(OutboxError):
    """Another object under a SOP Instance UID whose file the outbox holds already."""


def instance_path(instances: Path, sop_instance_uid: str) -> Path:
    """Where the Part 10 file of this instance lives in the folder ``instances``."""
    if not _UID.match(sop_instance_uid) or len(sop_instance_uid) > 64:
        raise OutboxError(f"SOP Instance UID {sop_instance_uid!r} is not a valid UID")
    return instances / f"{sop_instance_uid}.dcm"


def read_source(obj: Source) -> Dataset | DicomFile:
    """A dataset or a read DICOM file as it is; a path read (its header only)."""
    return obj if isinstance(obj, Dataset | DicomFile) else read_dicom_file(Path(obj))


def header_of(source: Dataset | DicomFile) -> Dataset:
    return source if isinstance(source, Dataset) else source.header


def write_file(
    source: Dataset | DicomFile,
    instances: Path,
    *,
    replace: bool = False,
    write: Callable[[Dataset | DicomFile, Path], None] | None = None,
) -> Written:
    """Put one object's Part 10 file in the folder ``instances``, by ``write(source,
    path)`` (:func:`write_instance` unless given).

    When the instance's file is there already, nothing is written for the same object
    (the same data set, byte for byte, in the same syntax); another object raises
    InstanceConflict, or with ``replace`` takes the file's place.
    """
    ds = header_of(source)
    uid = str(ds.get("SOPInstanceUID", ""))
    if not uid:
        raise OutboxError("an object without a SOP Instance UID cannot be queued")
    path = instance_path(instances, uid)
    replaced = path.exists() and not _same_object(path, source)
    if replaced and not replace:
        raise InstanceConflict(
            f"another object with SOP Instance UID {uid} is in the outbox already (queued "
            "or sent), with other bytes: this one is not queued in its place unless asked "
            "to replace it (ezp2p send --replace)"
        )
    if replaced or not path.exists():
        (write or write_instance)(source, path)
    return Written(
        uid,
        str(ds.get("SOPClassUID", "")),
        str(ds.get("StudyInstanceUID", "")),
        str(ds.get("PatientName", "")),
        str(ds.get("PatientID", "")),
        str(ds.get("SeriesDescription", "")),
        path,
        None if isinstance(source, Dataset) else source,
        replaced,
    )


def _same_object(path: Path, source: Dataset | DicomFile) -> bool:
    """Whether the outbox file at ``path`` holds ``source`` (a dataset as it encodes)."""
    if isinstance(source, DicomFile):
        return same_data_set(read_dicom_file(path), source)
    encoded = BytesIO()
    dcmwrite(encoded, source, enforce_file_format=True)
    return path.stat().st_size == encoded.tell() and path.read_bytes() == encoded.getvalue()


def restore_file(item: Written, dataset: Dataset | None = None) -> None:
    """Write ``item``'s file again (another process purged it since) from ``dataset``,
    else from the DICOM file it came from; OutboxError when it has neither."""
    source = dataset if dataset is not None else item.source
    if source is None:
        raise OutboxError(f"{item.sop_instance_uid}: its outbox file was removed meanwhile")
    write_instance(source, item.path)


def write_instance(source: Dataset | DicomFile, path: Path) -> None:
    """Put ``source`` at ``path``: a dataset encoded, a DICOM file copied (see
    :func:`~napari_ezp2p.core.part10.write_copy`)."""
    if isinstance(source, Dataset):
        write_atomically(source, path)
    else:
        write_copy(source, path)


def sync_folder(folder: Path) -> None:
    """fsync a folder, so that the files renamed into it stay after a power loss."""
    if os.name == "nt":
        return  # not possible there; NTFS journals its metadata
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def old_orphans(folder: Path, instances: Path, known: Set[str], before: float) -> list[Path]:
    """Files in ``instances`` last written before ``before`` whose path relative to
    ``folder`` is not ``known`` (temporary ``.part`` files included)."""
    found = []
    for path in instances.iterdir():
        with suppress(OSError):
            relative = path.relative_to(folder).as_posix()
            if relative not in known and path.is_file() and path.stat().st_mtime < before:
                found.append(path)
    return found


def remove_files(paths: list[Path]) -> int:
    """Delete these files (one that cannot be deleted stays); how many went."""
    removed = 0
    for path in paths:
        with suppress(OSError):
            path.unlink()
            removed += 1
    return removed


def register_writer(folder: Path) -> Path:
    """Say that this process may write files into the outbox ``folder`` (until the file
    this returns is removed): a file in ``writers/`` naming it (:func:`~.owners.new_owner`),
    which a process that is killed leaves behind."""
    writers = folder / WRITERS_DIR
    writers.mkdir(exist_ok=True)
    path = writers / uuid.uuid4().hex
    with atomic_file(path, "w", encoding="ascii") as stream:
        stream.write(new_owner())
    return path


@dataclass(frozen=True)
class Cleaned:
    """What :meth:`Outbox.clean_orphans` removed: ``files`` no row referred to, and the
    registrations of ``writers_gone`` processes, which ended without closing the outbox
    (killed)."""

    files: int = 0
    writers_gone: int = 0


def orphans_before(
    folder: Path, own: Path, opened: float, grace: float
) -> tuple[float, list[Path]]:
    """When the orphans in the outbox ``folder`` that may go were written, at the
    latest, and the registrations of the writers that are gone.

    A writer (``own``, who opened the outbox at ``opened``, or another) may still queue
    the files it wrote: when no other writer is at work, every file written before
    ``opened`` is an orphan of one that ended; else only those older than ``grace``.
    """
    now = time.time()
    others = [path for path in (folder / WRITERS_DIR).iterdir() if path != own]
    gone = [path for path in others if _writer_gone(path)]
    if len(gone) < len(others):  # another writer may be at work
        return now - grace, gone
    return max(opened, now - grace), gone


def _writer_gone(path: Path) -> bool:
    """Whether the writer ``path`` registers has ended (one that cannot be read yet may
    be at work)."""
    try:
        if path.name.startswith("."):  # being registered, or killed while it was
            return path.stat().st_mtime < time.time() - _REGISTERING
        return owner_gone(path.read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError):
        return False
