"""The jobs behind both faces (the ``ezp2p`` command and the napari docks).

Inputs are gathered, converted one at a time into the outbox (so nothing converted
is ever lost and memory holds one image at a time), then the outbox is drained.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydicom import Dataset, dcmread

from .capture.clip import read_video
from .capture.pdf import is_pdf_file, read_pdf
from .capture.video import is_video_file
from .core.convert import free_name, write_atomically
from .core.errors import Ezp2pError
from .core.image import SourceImage
from .core.imageio import is_supported_image, read_image
from .core.metadata import Metadata
from .core.pdf import build_encapsulated_pdf
from .core.sc import build_sc, complete_metadata
from .core.transfer import TransferSyntax
from .net.destination import Destination, NetworkSettings
from .outbox import Outbox, OutboxError, RunSummary, scu_sender, send_due
from .outbox.queue import Written
from .outbox.runner import RunProgress


def is_dicom_file(path: Path) -> bool:
    """A Part 10 file: 128-byte preamble then ``DICM``."""
    try:
        with path.open("rb") as stream:
            return stream.read(132)[128:] == b"DICM"
    except OSError:
        return False


def is_input_file(path: Path) -> bool:
    """An image, DICOM, PDF or video file we can take (by its first bytes)."""
    return (
        is_supported_image(path) or is_dicom_file(path) or is_pdf_file(path) or is_video_file(path)
    )


def collect_inputs(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and the files we can take inside folders (sorted, recursive)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += [p for p in sorted(path.rglob("*")) if p.is_file() and is_input_file(p)]
        else:
            found.append(path)
    return found


def object_for_file(
    path: Path, meta: Metadata, ts: TransferSyntax, number: int, now: datetime
) -> Dataset | Path:
    """What a file becomes: a DICOM file goes as it is (its path comes back), a PDF
    becomes an Encapsulated PDF object, a video a multi-frame SC clip (Conversion Type
    DV, with its frame time), an image a Secondary Capture object."""
    if is_dicom_file(path):
        return path
    if is_pdf_file(path):
        return build_encapsulated_pdf(
            read_pdf(path), meta, document_title=path.stem, now=now, instance_number=number
        )
    if not is_supported_image(path) and is_video_file(path):
        clip = read_video(path)
        meta = dataclasses.replace(meta, frame_time_ms=clip.frame_time_ms)
        return build_sc(clip.image, meta, ts, instance_number=number, now=now)
    return build_sc(read_image(path), meta, ts, instance_number=number, now=now)


@dataclass
class QueueResult:
    """What was queued: outbox entry ids, how many images became objects, how many
    DICOM files went as they are, and the inputs that failed with the reason."""

    entry_ids: list[int] = field(default_factory=list)
    converted: int = 0
    passed_through: int = 0
    errors: list[tuple[object, str]] = field(default_factory=list)


def queue_inputs(
    paths: Sequence[Path],
    meta: Metadata,
    ts: TransferSyntax,
    destinations: Sequence[Destination],
    outbox: Outbox,
    now: datetime | None = None,
) -> QueueResult:
    """Convert image files (one study, one series) and queue them with any DICOM files.

    The metadata is checked before any file is read; a file that cannot be read or
    encoded is reported in the result and the others still go.
    """
    images = ((path, None, {}) for path in paths)
    return queue_images(images, meta, ts, destinations, outbox, now)


#: queue_images commits the rows of the objects written so far after this many objects,
#: or this many seconds (files stay without rows, as orphans, no longer than that).
QUEUE_BATCH = 200
QUEUE_BATCH_SECONDS = 5.0


def queue_images(
    items: Iterable[tuple[object, SourceImage | None, dict[str, object]]],
    meta: Metadata,
    ts: TransferSyntax,
    destinations: Sequence[Destination],
    outbox: Outbox,
    now: datetime | None = None,
) -> QueueResult:
    """Queue ``(source, image, overrides)`` items as one series of one study.

    ``source`` is a path (read when ``image`` is None; a DICOM file goes as it is) or
    a label such as a layer name; ``overrides`` are Metadata fields for that image
    alone (its window, rescale). Items are handled one at a time: each object's file is
    written to the outbox (so memory holds one object), and the rows of the files
    written go in together, one transaction per ``QUEUE_BATCH`` objects or
    ``QUEUE_BATCH_SECONDS``, and for the rest before returning (even when interrupted).
    """
    now = now or datetime.now()
    meta = complete_metadata(meta, now)
    result = QueueResult()
    batch: list[tuple[object, bool, Written]] = []  # (source, passed through, file)
    started = time.monotonic()

    def commit() -> None:
        written = [item for _, _, item in batch]
        try:
            result.entry_ids += outbox.insert(written, destinations)
        except Ezp2pError as error:
            result.errors += [(source, str(error)) for source, _, _ in batch]
        else:
            passed = sum(through for _, through, _ in batch)
            result.passed_through += passed
            result.converted += len(batch) - passed
        batch.clear()

    try:
        for number, (source, image, overrides) in enumerate(items, start=1):
            own = dataclasses.replace(meta, **overrides) if overrides else meta
            try:
                if image is None:
                    made = object_for_file(Path(source), own, ts, number, now)
                else:
                    made = build_sc(image, own, ts, instance_number=number, now=now)
                if not destinations:
                    raise OutboxError("no destination to queue for")
                batch.append((source, isinstance(made, Path), outbox.write(made)))
            except Ezp2pError as error:
                result.errors.append((source, str(error)))
                continue
            finally:
                made = None  # the object's file is written: let it go now
            if len(batch) >= QUEUE_BATCH or time.monotonic() - started >= QUEUE_BATCH_SECONDS:
                commit()
                started = time.monotonic()
    finally:
        if batch:
            commit()
    return result


def convert_inputs(
    paths: Sequence[Path],
    out_dir: Path,
    meta: Metadata,
    ts: TransferSyntax,
    now: datetime | None = None,
) -> Iterator[tuple[Path, Path | None, str]]:
    """Convert each file into ``out_dir`` as one series of one study, yielding
    ``(source, written file or None, error)``. The metadata is checked before any file
    is read; a bad file is reported and skipped; nothing half-written is left."""
    now = now or datetime.now()
    meta = complete_metadata(meta, now)
    out_dir.mkdir(parents=True, exist_ok=True)
    for number, path in enumerate(map(Path, paths), start=1):
        try:
            made = object_for_file(path, meta, ts, number, now)
            if isinstance(made, Path):
                made = dcmread(made)
            yield path, write_atomically(made, free_name(out_dir, path.stem)), ""
        except Ezp2pError as error:
            yield path, None, str(error)


def send_queued(
    outbox: Outbox,
    destinations: Sequence[Destination],
    settings: NetworkSettings,
    progress: RunProgress | None = None,
) -> RunSummary:
    """Send what is due for ``destinations``, each on its own association, in parallel."""
    names = [destination.name for destination in destinations]
    return send_due(outbox, scu_sender(settings), destinations=names, progress=progress)


#: Query/worklist answer keywords and the Metadata fields they fill.
_FROM_QUERY = {
    "PatientName": "patient_name",
    "PatientID": "patient_id",
    "PatientBirthDate": "birth_date",
    "PatientSex": "sex",
    "AccessionNumber": "accession_number",
    "ReferringPhysicianName": "referring_physician",
    "StudyInstanceUID": "study_instance_uid",
    "StudyID": "study_id",
    "StudyDate": "study_date",
    "StudyTime": "study_time",
    "StudyDescription": "study_description",
    "SeriesInstanceUID": "series_instance_uid",
    "SeriesDescription": "series_description",
    "BodyPartExamined": "body_part",
    "Modality": "modality",
}


def metadata_from_match(match: Dataset, base: Metadata | None = None) -> Metadata:
    """``base`` filled from a worklist item or a study/series query answer.

    Every value taken is remembered in ``queried``, so one changed afterwards is
    recorded as coerced in the object. A worklist item's Requested Procedure
    Description becomes the study description; its first scheduled step gives the
    modality.
    """
    values: dict[str, str] = {}
    for keyword in _FROM_QUERY:
        value = match.get(keyword)
        if value is not None and str(value):
            values[keyword] = str(value)
    if "StudyDescription" not in values and match.get("RequestedProcedureDescription"):
        values["StudyDescription"] = str(match.RequestedProcedureDescription)
    steps = match.get("ScheduledProcedureStepSequence") or []
    if "Modality" not in values and steps and steps[0].get("Modality"):
        values["Modality"] = str(steps[0].Modality)
    if "SeriesNumber" in match and str(match.SeriesNumber):
        series_number = int(match.SeriesNumber)
    else:
        series_number = (base or Metadata()).series_number
    fields = {_FROM_QUERY[keyword]: value for keyword, value in values.items()}
    return dataclasses.replace(
        base or Metadata(), **fields, series_number=series_number, queried=values
    )
