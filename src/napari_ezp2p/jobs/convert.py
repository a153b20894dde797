"""Convert: files in, DICOM files out into a folder (no network, no outbox)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

from ..core.convert import free_name, write_atomically
from ..core.dicom_check import read_checked
from ..core.errors import Ezp2pError, FileWriteError
from ..core.metadata import Metadata
from ..core.part10 import DicomFile, write_copy
from .inputs import SyntaxChoice, object_for_file
from .pool import failed_future, in_order, pool_for
from .series import job_series, modality_of_file


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
    workers: int | None = None,
) -> Iterator[Converted]:
    """Convert each file into ``out_dir``, in one study, one series per modality
    (:class:`~.series.SeriesByModality`). The metadata is checked before any file is
    read; a file that cannot be read or written is reported and skipped; nothing
    half-written is left. A DICOM file is copied, its
    data set's bytes unchanged, only when it parses (core.dicom_check). In a compressed
    syntax ``workers`` processes make the objects (:mod:`.pool`), written in order."""
    now = now or datetime.now()
    meta, series = job_series(meta, now)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FileWriteError(error.errno, error.strerror, str(out_dir)) from error
    pool = pool_for(syntax.compresses, workers)

    def submitted(number: int, path: Path) -> tuple[Path, Future]:
        try:
            own = series.of(meta, modality_of_file(path, meta))
        except (Ezp2pError, OSError) as error:
            return path, failed_future(error)
        return path, pool.submit(object_for_file, path, own, syntax, number, now)

    calls = (partial(submitted, number, path) for number, path in enumerate(map(Path, paths), 1))
    with pool:
        for path, future in in_order(pool, calls):
            try:
                made = future.result()
                target = free_name(out_dir, path.stem)
                if isinstance(made, DicomFile):
                    read_checked(made.path, force=True)  # refuse what does not parse
                    written, syntax_uid = write_copy(made, target), made.transfer_syntax
                else:
                    written = write_atomically(made, target)
                    syntax_uid = made.file_meta.TransferSyntaxUID
                yield Converted(path, written, syntax_uid.name)
            except Ezp2pError as error:
                yield Converted(path, error=str(error))
            except OSError as error:  # what no reader or writer named: the system's words
                yield Converted(path, error=error.strerror or str(error))
            finally:
                made = future = None
