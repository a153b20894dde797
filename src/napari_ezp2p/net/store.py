"""Storage as SCU: objects sent to a destination over one or several associations.

``store`` never raises for network trouble: its report says what became of each object.
An object whose syntax the peer did not accept is transcoded (:mod:`.transcode`); a file
in a syntax it did accept is sent as it is, straight from the file.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from os import PathLike, fspath
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_file_meta_info
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import build_context
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext
from pynetdicom.status import (
    STATUS_SUCCESS,
    STATUS_WARNING,
    STORAGE_SERVICE_CLASS_STATUS,
    code_to_category,
)

from ..core.errors import Ezp2pError
from ..core.transfer import transfer_syntax
from .association import NetworkError, Session, no_response, release
from .destination import Destination, NetworkSettings
from .filestream import send_file
from .transcode import is_lossless, transcode

log = logging.getLogger(__name__)

#: Fallbacks proposed beside each object's own syntax, best first.
FALLBACK_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)

SUCCESS = "success"
WARNING = "warning"
FAILURE = "failure"
NOT_SENT = "not sent"
#: Our category of an object's C-STORE status, by pynetdicom's (any other is a failure).
_CATEGORIES = {STATUS_SUCCESS: SUCCESS, STATUS_WARNING: WARNING}


@dataclass(frozen=True)
class StoreFile:
    """A Part 10 file whose dataset's SOP Class and Instance UIDs are known (an outbox
    file): only its file meta is read before it is sent."""

    path: Path
    sop_class_uid: str
    sop_instance_uid: str

    def __fspath__(self) -> str:
        return str(self.path)


StoreObject = Dataset | str | PathLike | StoreFile


@dataclass(frozen=True)
class ObjectOutcome:
    """What became of one object: ``category`` is success, warning, failure or not sent;
    ``status`` the C-STORE response status (None when there was none); ``transfer_syntax``
    the UID it was sent in ("" when not sent); ``source`` its file path, if any."""

    index: int
    sop_instance_uid: str
    category: str
    status: int | None
    message: str
    transfer_syntax: str = ""
    source: str = ""


@dataclass
class StoreReport:
    """The outcome of sending objects to one destination over one association."""

    destination: Destination
    outcomes: list[ObjectOutcome] = field(default_factory=list)
    error: str = ""  # why the transfer is flagged as an error ("" when it is not)
    bytes_sent: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Every object went, with success or warning status."""
        return not self.error and all(o.category in (SUCCESS, WARNING) for o in self.outcomes)

    def count(self, category: str) -> int:
        return sum(o.category == category for o in self.outcomes)


@dataclass(frozen=True)
class StoreProgress:
    """A progress report: ``done`` objects have an outcome (``outcome`` is the latest, None
    for a bytes-only update), of ``total``; ``bytes_sent`` counts every byte written to the
    socket on this association (PDU headers and command sets included)."""

    destination: Destination
    done: int
    total: int
    bytes_sent: int
    outcome: ObjectOutcome | None = None


@dataclass
class _Item:
    index: int
    source: Dataset | Path
    sop_class: UID
    sop_instance: UID
    syntax: UID
    # A file whose meta names the same SOP class and instance as its dataset: pynetdicom
    # can send its encoded bytes as they are, straight from the file (see _send_one).
    streamable: bool = False

    @property
    def path(self) -> str:
        return "" if isinstance(self.source, Dataset) else str(self.source)


def store(
    objects: Sequence[StoreObject],
    dest: Destination,
    settings: NetworkSettings,
    *,
    progress: Callable[[StoreProgress], None] | None = None,
) -> StoreReport:
    """Send ``objects`` (Datasets, or Part 10 file paths read one at a time) to ``dest``.

    Proposed, per SOP class: one presentation context per syntax among the objects' own
    (or ``dest.transfer_syntax``), explicit and implicit VR little endian. An object whose
    syntax the peer did not accept is transcoded, keeping its SOP Instance UID, to one it
    did: never to a lossy syntax unless it is already encoded that way.

    Up to ``dest.associations`` associations are opened at once, each taking the next
    object when it is ready for one; one that cannot be established is not an error
    while another is (the peer may serve one at a time, or limit how many it takes).

    A failure status (or no response) aborts its association and stops the others: the
    remaining objects are "not sent". Warnings are recorded and the transfer goes on.
    ``progress`` is called after each object and whenever bytes are sent; the byte
    updates come from pynetdicom's connection threads.
    """
    start = time.perf_counter()
    report = StoreReport(dest)
    items: list[_Item] = []
    for index, obj in enumerate(objects):
        try:
            items.append(_item(index, obj))
        except (OSError, InvalidDicomError, AttributeError, ValueError) as error:
            name = fspath(obj) if not isinstance(obj, Dataset) else f"object #{index + 1}"
            report.outcomes.append(
                ObjectOutcome(index, "", FAILURE, None, f"cannot read {name}: {error}", "", name)
            )
    if report.outcomes:
        report.error = report.outcomes[0].message
    transfer = _Transfer(dest, settings, items, len(items) + len(report.outcomes), progress)
    if items:
        contexts = _store_contexts(items, _preferred_syntax(dest))
        if len(contexts) > 128:
            report.error = f"{len(contexts)} presentation contexts needed, at most 128 are allowed"
            report.outcomes.extend(_not_sent(items, report.error))
        else:
            transfer.run(contexts, min(dest.associations, len(items)))
            report.outcomes.extend(transfer.outcomes)
            report.error = transfer.error or report.error
            report.bytes_sent = transfer.bytes_sent
    report.outcomes.sort(key=lambda o: o.index)
    report.seconds = time.perf_counter() - start
    return report


def _store_contexts(items: Sequence[_Item], preferred: UID | None) -> list[PresentationContext]:
    proposals: dict[UID, list[UID]] = {}
    for item in items:
        wanted = proposals.setdefault(item.sop_class, [])
        for ts in (_wanted(item.syntax, preferred), *FALLBACK_SYNTAXES):
            if ts not in wanted:
                wanted.append(ts)
    return [build_context(sop, ts) for sop, syntaxes in proposals.items() for ts in syntaxes]


class _Transfer:
    """The objects of one :func:`store`, shared by its associations: each takes the next
    object when it is ready for one, and a failure stops them all."""

    def __init__(
        self,
        dest: Destination,
        settings: NetworkSettings,
        items: Sequence[_Item],
        total: int,
        progress: Callable[[StoreProgress], None] | None,
    ) -> None:
        self.dest = dest
        self.settings = settings
        self.pending = deque(items)
        self.total = total
        self.progress = progress
        self.done = total - len(items)  # the unreadable ones already have their outcome
        self.outcomes: list[ObjectOutcome] = []
        self.sessions: list[Session] = []
        self.refusals: list[str] = []  # why associations could not be established
        self.failed: ObjectOutcome | None = None
        self.halted = False
        self.crash: BaseException | None = None  # an unexpected error in another thread
        self.error = ""
        self.lock = threading.RLock()
        self.in_hand = 0  # objects being sent right now
        self.put_down = threading.Condition(self.lock)
        self.finished = False  # late associations report nothing more

    @property
    def bytes_sent(self) -> int:
        return sum(session.bytes_sent for session in self.sessions)

    def run(self, contexts: list[PresentationContext], associations: int) -> None:
        """Send over up to ``associations`` associations: the first in this thread, the
        others once it is established (a peer that limits how many it takes would refuse
        them all when they come at once); then mark what is left "not sent" and say why
        in ``error``.

        Once the first is done nobody takes another object: this waits for the objects
        in other hands, not for associations still being opened (a peer may leave them
        unanswered until its first is released, or until our ACSE timeout).
        """
        first = self._open(contexts)
        for n in range(1, associations if first else 0):
            name = f"ezp2p-store-{n}"
            threading.Thread(target=self._other, args=(contexts,), name=name, daemon=True).start()
        try:
            if first:
                self._send_over(*first)
        except BaseException:
            self.halted = True  # the others stop after their current object
            raise
        finally:
            with self.put_down:
                self.put_down.wait_for(lambda: self.in_hand == 0)
                self.finished = True
        if self.crash is not None:
            raise self.crash
        if self.refusals and first:
            log.info(
                "%s: %d more associations refused: %s",
                self.dest.name,
                len(self.refusals),
                self.refusals[0],
            )
        if self.failed is not None:
            self.error = self.failed.message
            reason = f"the transfer stopped when {self.failed.sop_instance_uid} failed"
        else:
            self.error = "" if first else self.refusals[0]
            reason = self.error
        self.outcomes.extend(_not_sent(self.pending, f"not sent: {reason}"))
        self.pending.clear()

    def _other(self, contexts: list[PresentationContext]) -> None:
        try:
            opened = self._open(contexts)
            if opened:
                self._send_over(*opened)
        except BaseException as error:  # noqa: BLE001 - raised again by run()
            self.crash, self.halted = error, True

    def _open(self, contexts: list[PresentationContext]) -> tuple[Association, Session] | None:
        session = Session(self.dest, self.settings)
        session.on_bytes = lambda sent: self._tell(None)
        with self.lock:
            self.sessions.append(session)
        try:
            return session.open(contexts), session
        except NetworkError as error:
            with self.lock:
                self.refusals.append(str(error))
            return None

    def _send_over(self, assoc: Association, session: Session) -> None:
        accepted: dict[UID, set[UID]] = {}
        for cx in assoc.accepted_contexts:
            accepted.setdefault(UID(cx.abstract_syntax), set()).add(UID(cx.transfer_syntax[0]))
        preferred = _preferred_syntax(self.dest)
        try:
            while (item := self._next()) is not None:
                try:
                    outcome = _send_one(
                        assoc, session, item, accepted, preferred, self.dest, self.settings
                    )
                    self._record(outcome)
                finally:
                    with self.put_down:
                        self.in_hand -= 1
                        self.put_down.notify_all()
                if outcome.category == FAILURE:
                    if assoc.is_established:
                        assoc.abort()
                    return
        finally:
            release(assoc)

    def _next(self) -> _Item | None:
        with self.lock:
            if self.halted or self.failed or not self.pending:
                return None
            self.in_hand += 1
            return self.pending.popleft()

    def _record(self, outcome: ObjectOutcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)
            self.done += 1
            if outcome.category == FAILURE and self.failed is None:
                self.failed = outcome
            self._tell(outcome)

    def _tell(self, outcome: ObjectOutcome | None) -> None:
        if self.progress is not None and not self.finished:
            with self.lock:
                self.progress(
                    StoreProgress(self.dest, self.done, self.total, self.bytes_sent, outcome)
                )


def _item(index: int, obj: StoreObject) -> _Item:
    if isinstance(obj, Dataset):
        meta = getattr(obj, "file_meta", None)
        if meta is None or "TransferSyntaxUID" not in meta:
            raise ValueError("the dataset has no file meta Transfer Syntax UID")
        return _Item(index, obj, obj.SOPClassUID, obj.SOPInstanceUID, meta.TransferSyntaxUID)
    path = Path(obj)
    if isinstance(obj, StoreFile):
        meta = read_file_meta_info(path)
        sop_class, sop_instance = obj.sop_class_uid, obj.sop_instance_uid
    else:
        header = pydicom.dcmread(path, stop_before_pixels=True)
        meta = header.file_meta
        sop_class = header.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID")
        sop_instance = header.get("SOPInstanceUID") or meta.get("MediaStorageSOPInstanceUID")
    syntax = meta.get("TransferSyntaxUID")
    if not (sop_class and sop_instance and syntax):
        raise ValueError("no SOP Class UID, SOP Instance UID or Transfer Syntax UID")
    streamable = (
        meta.get("MediaStorageSOPClassUID") == sop_class
        and meta.get("MediaStorageSOPInstanceUID") == sop_instance
    )
    return _Item(index, path, UID(sop_class), UID(sop_instance), UID(syntax), streamable)


def _not_sent(items: Sequence[_Item], message: str) -> list[ObjectOutcome]:
    return [
        ObjectOutcome(i.index, str(i.sop_instance), NOT_SENT, None, message, "", i.path)
        for i in items
    ]


def _preferred_syntax(dest: Destination) -> UID | None:
    if not dest.transfer_syntax:
        return None
    return transfer_syntax(dest.transfer_syntax).uid


def _wanted(own: UID, preferred: UID | None) -> UID:
    """The syntax to propose for an object: the destination's preferred one when getting
    there loses nothing (it is lossless, or the object already is in it), else its own."""
    if preferred is None or preferred == own:
        return own
    return preferred if is_lossless(preferred) else own


def _choose(own: UID, wanted: UID, accepted: set[UID]) -> UID | None:
    for ts in (wanted, own, *FALLBACK_SYNTAXES):
        if ts in accepted:
            return ts
    return None


def _send_one(
    assoc: Association,
    session: Session,
    item: _Item,
    accepted: dict[UID, set[UID]],
    preferred: UID | None,
    dest: Destination,
    settings: NetworkSettings,
) -> ObjectOutcome:
    uid = str(item.sop_instance)

    def outcome(category: str, status: int | None, message: str, ts: str = "") -> ObjectOutcome:
        return ObjectOutcome(item.index, uid, category, status, message, ts, item.path)

    target = _choose(
        item.syntax, _wanted(item.syntax, preferred), accepted.get(item.sop_class, set())
    )
    if target is None:
        return outcome(
            FAILURE,
            None,
            f"{dest.name} accepted no presentation context for {item.sop_class.name}",
        )
    ds: Dataset | None = None  # None: the file is sent as it is
    if not (isinstance(item.source, Path) and item.streamable and target == item.syntax):
        try:
            ds = item.source if isinstance(item.source, Dataset) else pydicom.dcmread(item.source)
            if ds.file_meta.TransferSyntaxUID != target:
                ds = transcode(ds, target)
        except (OSError, InvalidDicomError) as error:
            return outcome(FAILURE, None, f"cannot read {item.path}: {error}")
        except Ezp2pError as error:
            return outcome(FAILURE, None, str(error))
        pixel_data = ds[0x7FE00010] if target.is_compressed and 0x7FE00010 in ds else None
        if pixel_data is not None:
            # pynetdicom writes the dataset itself: encapsulated Pixel Data must be marked
            # undefined length (pydicom does so when reading a file, not when building one).
            pixel_data.is_undefined_length = True
    if not assoc.is_established:
        return outcome(FAILURE, None, no_response(session, dest, settings, 0.0))
    sent = time.perf_counter()
    try:
        if ds is not None:
            rsp = assoc.send_c_store(ds)
        else:
            rsp = send_file(assoc, item.source, item.sop_class, item.sop_instance, item.syntax)
    except (ValueError, TypeError, AttributeError, RuntimeError, OSError) as error:
        return outcome(FAILURE, None, f"cannot send: {error}")
    status = rsp.get("Status")
    if status is None:
        message = no_response(session, dest, settings, time.perf_counter() - sent)
        return outcome(FAILURE, None, message, str(target))
    category, text = _storage_status(int(status))
    comment = rsp.get("ErrorComment")
    message = f"0x{status:04X} {text}" + (f": {comment}" if comment else "")
    return outcome(category, int(status), message, str(target))


def _storage_status(code: int) -> tuple[str, str]:
    """(category, text) of a C-STORE status: pynetdicom's category (a code it does not
    know, or a pending one, is a failure); the Storage table's text, or the category's
    name when the table has none."""
    category = code_to_category(code)
    text = STORAGE_SERVICE_CLASS_STATUS.get(code, (category, ""))[1]
    return _CATEGORIES.get(category, FAILURE), text or category
