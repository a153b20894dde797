"""Files in, Part 10 files out: the conversion job under ``ezp2p convert`` and the writer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydicom import Dataset, dcmwrite

from .errors import Ezp2pError
from .files import atomic_file
from .image import SourceImage
from .imageio import read_image
from .metadata import Metadata
from .sc import build_sc, complete_metadata
from .transfer import TransferSyntax


@dataclass(frozen=True)
class Converted:
    """One input and what became of it: the file written, or the error."""

    source: Path
    output: Path | None = None
    error: str = ""


def convert_images(
    images: Sequence[SourceImage], meta: Metadata, ts: TransferSyntax, now: datetime | None = None
) -> list[Dataset]:
    """One Secondary Capture object per image, all in one series of one study."""
    now = now or datetime.now()
    meta = complete_metadata(meta, now)
    return [
        build_sc(image, meta, ts, instance_number=number, now=now)
        for number, image in enumerate(images, start=1)
    ]


def convert_files(
    paths: Sequence[Path],
    out_dir: Path,
    meta: Metadata,
    ts: TransferSyntax,
    now: datetime | None = None,
) -> Iterator[Converted]:
    """Convert each file into ``out_dir``, one after the other, yielding each outcome.

    The metadata is checked once before any file is read; a file that cannot be read
    or encoded is reported and skipped, and nothing half-written is ever left behind.
    """
    now = now or datetime.now()
    meta = complete_metadata(meta, now)
    out_dir.mkdir(parents=True, exist_ok=True)
    for number, path in enumerate(map(Path, paths), start=1):
        try:
            ds = build_sc(read_image(path), meta, ts, instance_number=number, now=now)
            yield Converted(path, write_atomically(ds, free_name(out_dir, path.stem)))
        except Ezp2pError as error:
            yield Converted(path, error=str(error))


def free_name(folder: Path, stem: str) -> Path:
    """``folder/stem.dcm``, or ``stem-2.dcm``, ``stem-3.dcm``… if that exists."""
    candidate = folder / f"{stem}.dcm"
    number = 1
    while candidate.exists():
        number += 1
        candidate = folder / f"{stem}-{number}.dcm"
    return candidate


def write_atomically(ds: Dataset, path: Path) -> Path:
    """Write ``ds`` as a DICOM Part 10 file that appears whole or not at all."""
    with atomic_file(path) as stream:
        dcmwrite(stream, ds, enforce_file_format=True)
    return path
