"""Convert: files in, DICOM files out into a folder (no network, no outbox)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..core.convert import free_name, write_atomically
from ..core.dicom_check import read_checked
from ..core.errors import Ezp2pError
from ..core.metadata import Metadata
from ..core.sc import complete_metadata
from .inputs import SyntaxChoice, object_for_file


@dataclass(frozen=True)
class Converted:
    """One input's outcome: the file written and its transfer syntax, or the error."""

    source: Path
    written: Path | None = None
    syntax: str = ""
    error: str = ""


def convert_inputs(
    paths: Sequence[Path],
    out_dir: Path,
    meta: Metadata,
    syntax: SyntaxChoice,
    now: datetime | None = None,
) -> Iterator[Converted]:
    """Convert each file into ``out_dir`` as one series of one study. The metadata is
    checked before any file is read; a DICOM input is copied only when it parses
    (core.dicom_check); a bad file is reported and skipped; nothing half-written is
    left."""
    now = now or datetime.now()
    meta = complete_metadata(meta, now)
    out_dir.mkdir(parents=True, exist_ok=True)
    for number, path in enumerate(map(Path, paths), start=1):
        try:
            made = object_for_file(path, meta, syntax, number, now)
            if isinstance(made, Path):
                made = read_checked(made)
            written = write_atomically(made, free_name(out_dir, path.stem))
            yield Converted(path, written, made.file_meta.TransferSyntaxUID.name)
        except Ezp2pError as error:
            yield Converted(path, error=str(error))
