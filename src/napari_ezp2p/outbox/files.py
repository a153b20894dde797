"""The outbox's instance files: one Part 10 file per instance, written whole or not at all.

A dataset is written by ``write_atomically``; a Part 10 file whose meta agrees with its
dataset is copied byte for byte (temporary file, fsync, rename). The folder is fsynced
before rows refer to its files, and files no row refers to are orphans to clean up:
each process that has the outbox open says so in ``writers/``, so that the orphans of
one that was killed can go at once.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Set
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from pydicom import Dataset, dcmread

from ..core.convert import write_atomically
from ..core.files import atomic_file
from .database import OutboxError
from .owners import new_owner, owner_gone

_COPY_BUFFER = 1 << 20
WRITERS_DIR = "writers"
#: A registration still being written after this many seconds is one of a process killed.
_REGISTERING = 60.0
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


@dataclass(frozen=True)
class Written:
    """An instance whose file :meth:`Outbox.write` put in the outbox: what its rows say.

    ``source`` is the Part 10 file it came from (to copy again should the outbox file
    be purged before the rows go in), None for a dataset.
    """

    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    patient_name: str
    patient_id: str
    series_description: str
    path: Path
    source: Path | None = None


def instance_path(instances: Path, sop_instance_uid: str) -> Path:
    """Where the Part 10 file of this instance lives in the folder ``instances``."""
    if not _UID.match(sop_instance_uid) or len(sop_instance_uid) > 64:
        raise OutboxError(f"SOP Instance UID {sop_instance_uid!r} is not a valid UID")
    return instances / f"{sop_instance_uid}.dcm"


def write_file(obj: Dataset | str | os.PathLike[str], instances: Path) -> Written:
    """Put one object's Part 10 file in the folder ``instances``, unless it is there
    already; only the header of a Part 10 file is read (see :func:`write_instance`)."""
    source = None if isinstance(obj, Dataset) else Path(obj)
    ds = obj if source is None else dcmread(source, stop_before_pixels=True)
    uid = str(ds.get("SOPInstanceUID", ""))
    if not uid:
        raise OutboxError("an object without a SOP Instance UID cannot be queued")
    path = instance_path(instances, uid)
    if not path.exists():
        write_instance(obj, ds, path)
    return Written(
        uid,
        str(ds.get("SOPClassUID", "")),
        str(ds.get("StudyInstanceUID", "")),
        str(ds.get("PatientName", "")),
        str(ds.get("PatientID", "")),
        str(ds.get("SeriesDescription", "")),
        path,
        source,
    )


def restore_file(item: Written, dataset: Dataset | None = None) -> None:
    """Write ``item``'s file again (another process purged it since) from ``dataset``,
    else from the Part 10 file it came from; OutboxError when it has neither."""
    source = dataset if dataset is not None else item.source
    if source is None:
        raise OutboxError(f"{item.sop_instance_uid}: its outbox file was removed meanwhile")
    header = source if isinstance(source, Dataset) else dcmread(source)
    write_instance(source, header, item.path)


def write_instance(obj: Dataset | str | os.PathLike[str], header: Dataset, path: Path) -> None:
    """Put ``obj`` (a dataset, or a Part 10 file whose ``header`` was read) at ``path``.

    A file that :func:`_copyable` accepts is copied as it is; any other file is read
    whole and written again.
    """
    if isinstance(obj, Dataset):
        write_atomically(obj, path)
    elif _copyable(header):
        _copy_atomically(Path(obj), path)
    else:
        write_atomically(dcmread(obj), path)


def _copyable(header: Dataset) -> bool:
    """A Part 10 file (preamble, meta) whose meta names its dataset's SOP class and
    instance: its bytes can go into the outbox, and to the PACS, as they are."""
    meta = getattr(header, "file_meta", None)
    return (
        getattr(header, "preamble", None) is not None
        and meta is not None
        and bool(meta.get("TransferSyntaxUID"))
        and meta.get("MediaStorageSOPClassUID") == header.get("SOPClassUID")
        and meta.get("MediaStorageSOPInstanceUID") == header.get("SOPInstanceUID")
    )


def _copy_atomically(source: Path, path: Path) -> None:
    """Copy ``source`` to ``path`` so that it appears whole (fsynced) or not at all."""
    with atomic_file(path) as out, source.open("rb") as stream:
        shutil.copyfileobj(stream, out, _COPY_BUFFER)


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
