"""Send: items in, one object each into the outbox, the outbox drained, a report out.

Every face (``ezp2p send``, ``scan`` and ``queue retry``, the Send dock, "Send layer
to PACS") calls :func:`send` or :func:`retry` and renders the :class:`SendReport`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

from ..core.errors import Ezp2pError
from ..core.image import SourceImage
from ..core.metadata import Metadata
from ..core.part10 import DicomFile
from ..net.destination import Destination, NetworkSettings
from ..net.progress import ENCODING, SENDING, ObjectProgress, OnProgress
from ..net.transports import senders
from ..outbox import FAILED, QUEUED, REJECTED, Entry, Outbox, OutboxError, Written, send_due
from ..outbox.runner import RunProgress
from .inputs import SyntaxChoice, object_for_file, object_for_image
from .pool import failed_future, in_order, pool_for
from .report import Row, SendReport, row_of
from .series import job_series, modality_of_file


@dataclass(frozen=True)
class SendItem:
    """One thing to send, shown as ``label``.

    A file (``path``: an image, video, PDF, or a DICOM file that goes as it is), or an
    image in memory (``image``: a scanned page, a layer) with ``overrides``, Metadata
    fields for it alone (its window, rescale, series description). ``load``, when set,
    makes the item when the job runs, so that a layer's pixels are converted off the
    event loop; what it raises fails that item alone.
    """

    label: str
    path: Path | None = None
    image: SourceImage | None = None
    overrides: Mapping[str, object] = field(default_factory=dict)
    load: Callable[[], SendItem] | None = None

    @classmethod
    def file(cls, path: str | Path) -> SendItem:
        return cls(str(path), path=Path(path))


#: The rows of the objects written so far are committed after this many objects, or
#: this many seconds (files stay without rows, as orphans, no longer than that).
QUEUE_BATCH = 200
QUEUE_BATCH_SECONDS = 5.0


def queue(
    items: Iterable[SendItem],
    meta: Metadata,
    destinations: Sequence[Destination],
    outbox: Outbox,
    *,
    syntax: SyntaxChoice | None = None,
    replace: bool = False,
    now: datetime | None = None,
    object_progress: OnProgress | None = None,
    workers: int | None = None,
) -> SendReport:
    """Make each item one object of one study, queued for every destination; the objects
    of each modality make one series (:class:`~.series.SeriesByModality`).

    Each object is encoded once (one SOP Instance UID for every destination), in the
    syntax ``syntax`` chooses, and its file written to the outbox in item order, as soon
    as it is made (memory holds one object per worker, and one more; a DICOM file's copy
    goes on meanwhile, see :mod:`~napari_ezp2p.outbox.writing`). The rows go in
    together, one transaction per ``QUEUE_BATCH`` objects or ``QUEUE_BATCH_SECONDS``, and
    for the rest before returning, even when interrupted. An item that cannot be read or
    encoded is a failed row per destination; the others still go. In a compressed
    syntax the objects are made by ``workers`` processes (:mod:`.pool`; by default one
    per core), the items read ahead as far as the workers go; otherwise one at a time.

    An object whose SOP Instance UID the outbox holds with other bytes (from an earlier
    send, or an earlier item of this one) fails, unless ``replace``: then it takes that
    one's place (see :meth:`Outbox.write`), and an earlier item of this send it
    replaces fails with a row saying so. ``object_progress`` follows the encoding of
    each object, frame by frame (stage "encoding").
    """
    if not destinations:
        raise OutboxError("no destination to queue for")
    now = now or datetime.now()
    meta, series = job_series(meta, now)
    syntax = syntax or SyntaxChoice.of(None, destinations)
    report = SendReport()
    batch: list[tuple[str, bool, Written]] = []  # (label, passed through, file)
    labels: dict[str, str] = {}  # SOP Instance UID: the label of the item written last
    replaced: dict[tuple[str, str], str] = {}  # (label, UID) replaced: by which label
    started = time.monotonic()

    def failed(label: str, reason: str) -> None:
        report.rows.extend(
            Row(label, d.name, FAILED, reason, address=d.address) for d in destinations
        )

    def commit() -> None:
        """The rows of the batch's objects whose files are whole; a failed copy fails its
        item alone (an error that is no Ezp2pError is raised once the others are in)."""
        errors = outbox.copies.settle([written.path for _, _, written in batch])
        for (label, _, written), error in zip(batch, errors, strict=True):
            if isinstance(error, Ezp2pError):
                failed(label, str(error))
                uid = written.sop_instance_uid  # it replaced no earlier item's file
                for key in [key for key, by in replaced.items() if (by, key[1]) == (label, uid)]:
                    del replaced[key]
        batch[:] = [entry for entry, error in zip(batch, errors, strict=True) if error is None]
        unexpected = [error for error in errors if error and not isinstance(error, Ezp2pError)]
        try:
            ids = iter(outbox.insert([written for _, _, written in batch], destinations))
        except Ezp2pError as error:
            for label, _, _ in batch:
                failed(label, str(error))
        else:
            for label, passed, written in batch:
                uid = written.sop_instance_uid
                report.rows.extend(
                    Row(label, d.name, QUEUED, "", next(ids), uid, d.address) for d in destinations
                )
                report.passed_through += passed
                report.converted += not passed
        batch.clear()
        if unexpected:
            raise unexpected[0]

    def submitted(number: int, item: SendItem) -> tuple[str, Future]:
        """The item's label and the future of its object (made in ``pool``)."""
        try:
            item = _loaded(item)
            own = dataclasses.replace(meta, **item.overrides) if item.overrides else meta
            modality = own.modality if item.path is None else modality_of_file(item.path, own)
            own = series.of(own, modality)
        except Ezp2pError as error:
            return item.label, failed_future(error)
        on_frame = _encoding(object_progress, item.label)
        if item.image is not None:
            args = (object_for_image, item.image, own, syntax, number, now)
        else:
            args = (object_for_file, item.path, own, syntax, number, now)
        return item.label, pool.submit(*args, on_frame=on_frame)

    pool = pool_for(syntax.compresses, workers)
    calls = (partial(submitted, number, item) for number, item in enumerate(items, start=1))
    try:
        with pool:
            for label, future in in_order(pool, calls):
                try:
                    made = future.result()
                    written = outbox.write(made, replace=replace)
                    uid = written.sop_instance_uid
                    if written.replaced and uid in labels:
                        replaced[labels[uid], uid] = label
                    labels[uid] = label
                    batch.append((label, isinstance(made, DicomFile), written))
                except Ezp2pError as error:
                    failed(label, str(error))
                    continue
                finally:
                    made = future = None  # the object's file is written: let it go now
                if len(batch) >= QUEUE_BATCH or time.monotonic() - started >= QUEUE_BATCH_SECONDS:
                    commit()
                    started = time.monotonic()
    finally:
        if batch:
            commit()
        report.rows = [_unless_replaced(row, replaced) for row in report.rows]
    return report


def _encoding(object_progress: OnProgress | None, label: str) -> Callable[[int, int], None] | None:
    """The ``on_frame`` of the item ``label``, telling ``object_progress`` of every frame
    (a frame takes long enough to need no throttle)."""
    if object_progress is None:
        return None

    def tell(done: int, total: int) -> None:
        object_progress(ObjectProgress(ENCODING, done, total, "frame", label))

    return tell


def _unless_replaced(row: Row, replaced: Mapping[tuple[str, str], str]) -> Row:
    """``row``, or a failed one when a later item of its send replaced its object."""
    by = replaced.get((row.label, row.sop_instance_uid))
    if by is None:
        return row
    reason = f"replaced by {by}, another object with the same SOP Instance UID"
    return Row(row.label, row.destination, FAILED, reason, address=row.address)


def _loaded(item: SendItem) -> SendItem:
    """The item itself, or what its ``load`` makes (a ValueError there is bad pixels)."""
    if item.load is None:
        return item
    try:
        return item.load()
    except ValueError as error:
        raise Ezp2pError(str(error)) from error


def deliver(
    outbox: Outbox,
    report: SendReport,
    destinations: Sequence[Destination],
    network: NetworkSettings,
    progress: RunProgress | None = None,
    object_progress: OnProgress | None = None,
) -> SendReport:
    """Send what is due for ``destinations`` (each in parallel, on its own transport),
    then bring the report's rows up to date from the outbox. ``object_progress``
    follows each object's bytes to each destination (stage "sending")."""
    names = [destination.name for destination in destinations]
    on_bytes = None
    if object_progress is not None:
        labels = {row.entry_id: row.label for row in report.rows if row.entry_id is not None}

        def on_bytes(name: str, entry: Entry, sent: int, size: int) -> None:
            label = labels.get(entry.id) or entry.sop_instance_uid
            object_progress(ObjectProgress(SENDING, sent, size, "B", label, name))

    summary = send_due(
        outbox, senders(network), destinations=names, progress=progress, on_bytes=on_bytes
    )
    report.add_run(summary)
    report.rows = [_refreshed(outbox, row) for row in report.rows]
    return report


def _refreshed(outbox: Outbox, row: Row) -> Row:
    entry = outbox.get(row.entry_id) if row.entry_id is not None else None
    return row if entry is None else row_of(entry, row.label)


def send(
    items: Iterable[SendItem],
    meta: Metadata,
    destinations: Sequence[Destination],
    *,
    network: NetworkSettings,
    outbox_folder: str | Path,
    syntax: SyntaxChoice | None = None,
    replace: bool = False,
    progress: RunProgress | None = None,
    on_queued: Callable[[SendReport], None] | None = None,
    now: datetime | None = None,
    object_progress: OnProgress | None = None,
) -> SendReport:
    """Queue ``items`` (see :func:`queue`, and for ``replace``) and send them;
    ``on_queued`` sees the report once everything is in the outbox, before the first
    byte is sent. ``progress`` counts the instances done for each destination,
    ``object_progress`` the frames encoded and the bytes sent of each object.

    An object already in the outbox for a destination (the same DICOM file sent again)
    is sent now even when its entry was waiting for a later attempt: this send is the
    user asking for it. A rejected one stays rejected (see :func:`retry`).
    """
    with Outbox(outbox_folder) as outbox:
        report = queue(
            items,
            meta,
            destinations,
            outbox,
            syntax=syntax,
            replace=replace,
            now=now,
            object_progress=object_progress,
        )
        outbox.retry([row.entry_id for row in report.rows if row.entry_id is not None])
        if on_queued is not None:
            on_queued(report)
        return deliver(outbox, report, destinations, network, progress, object_progress)


def retry(
    outbox_folder: str | Path,
    network: NetworkSettings,
    *,
    entry_ids: Sequence[int] | None = None,
    labels: Mapping[int, str] | None = None,
    progress: RunProgress | None = None,
    rejected: bool = False,
    object_progress: OnProgress | None = None,
) -> SendReport:
    """Make the outbox's waiting entries (failed or queued, and those a process that
    died left sending; only ``entry_ids`` when given) due now and send them, each to
    the destination it was queued for. The rejected ones (refused for good) only with
    ``rejected``.

    Rows are shown under ``labels[entry id]``, else the series description or UID.
    """
    labels = labels or {}
    with Outbox(outbox_folder) as outbox:
        outbox.recover()  # what a process that died was sending waits again
        states = [FAILED, QUEUED, REJECTED] if rejected else [FAILED, QUEUED]
        waiting = [
            entry for entry in outbox.list(states) if entry_ids is None or entry.id in entry_ids
        ]
        report = SendReport()
        if not waiting:
            return report
        outbox.retry([entry.id for entry in waiting], rejected=rejected)
        for entry in waiting:
            label = labels.get(entry.id) or entry.series_description or entry.sop_instance_uid
            report.rows.append(row_of(entry, label))
        destinations = {entry.destination_name: entry.destination for entry in waiting}
        chosen = list(destinations.values())
        return deliver(outbox, report, chosen, network, progress, object_progress)


#: What the config fills in a study the user gave, where the study leaves it empty.
CONFIG_FILLS = ("institution_name", "institution_address", "station_name", "series_description")


def with_config_defaults(meta: Metadata, defaults: Metadata) -> Metadata:
    """``meta`` completed from ``defaults`` (``config.metadata_defaults``): all of them
    when ``meta`` is a plain :class:`Metadata` (nobody chose anything), else only the
    empty fields of :data:`CONFIG_FILLS`, so a value the user chose (a character set, a
    series number) is never replaced."""
    if meta == Metadata():
        return defaults
    fill = {name: getattr(defaults, name) for name in CONFIG_FILLS if not getattr(meta, name)}
    return dataclasses.replace(meta, **fill)
