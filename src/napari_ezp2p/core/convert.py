"""Secondary Capture objects of in-memory images, and how files of them are written."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydicom import Dataset, dcmwrite

from .files import atomic_file, cut_to_fit, longest_name

if TYPE_CHECKING:  # write_atomically alone (the outbox's) needs none of the encoders
    from .image import SourceImage
    from .metadata import Metadata
    from .transfer import TransferSyntax


def convert_images(
    images: Sequence[SourceImage], meta: Metadata, ts: TransferSyntax, now: datetime | None = None
) -> list[Dataset]:
    """One Secondary Capture object per image, all in one series of one study."""
    from .sc import build_sc, complete_metadata

    now = now or datetime.now()
    meta = complete_metadata(meta, now)
    return [
        build_sc(image, meta, ts, instance_number=number, now=now)
        for number, image in enumerate(images, start=1)
    ]


def free_name(folder: Path, stem: str) -> Path:
    """``folder/stem.dcm``, or ``stem-2.dcm``, ``stem-3.dcm``… if that exists; a stem
    too long for the folder is cut short."""
    longest = longest_name(folder)

    def named(tail: str) -> Path:
        return folder / f"{cut_to_fit(stem, longest - len(tail))}{tail}"

    candidate = named(".dcm")
    number = 1
    while candidate.exists():
        number += 1
        candidate = named(f"-{number}.dcm")
    return candidate


def write_atomically(ds: Dataset, path: Path) -> Path:
    """Write ``ds`` as a DICOM Part 10 file that appears whole or not at all."""
    with atomic_file(path) as stream:
        dcmwrite(stream, ds, enforce_file_format=True)
    return path
