"""Storage as SCU: objects sent to a destination over one or several associations
(:mod:`.transfer` shares them out and says what became of each).

``store`` never raises for network trouble: its report says what became of each object.
An object whose syntax the peer did not accept is transcoded (:mod:`.transcode`); a file
in a syntax it did accept is sent as it is, straight from the file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
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
    STATUS_FAILURE,
    STATUS_SUCCESS,
    STATUS_WARNING,
    STORAGE_SERVICE_CLASS_STATUS,
    code_to_category,
)

from ..core.errors import Ezp2pError
from ..core.transfer import transfer_syntax
from .association import Session, no_response
from .destination import Destination, NetworkSettings
from .filestream import send_file
from .transcode import is_lossless, transcode
from .transfer import (
    FAILURE,
    KEPT,
    REJECTED,
    SUCCESS,
    UNSTORED,
    WARNING,
    ObjectOutcome,
    StoreProgress,
    Transfer,
    no_context,
    not_sent,
)

#: Fallbacks proposed beside each object's own syntax, best first.
FALLBACK_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)

#: Our category of an object's C-STORE status, by pynetdicom's (a failure unless it says
#: otherwise: see :func:`_storage_status`).
_CATEGORIES = {STATUS_SUCCESS: SUCCESS, STATUS_WARNING: WARNING}
#: Failure statuses after which the peer may well take the object later: "Refused: Out of
#: Resources" (0xA700, the Storage class's own) and "Resource Limitation" (0x0213).
_TRANSIENT_STATUSES = (0xA700, 0x0213)


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
        return not self.error and all(o.category in KEPT for o in self.outcomes)

    def count(self, category: str) -> int:
        return sum(o.category == category for o in self.outcomes)


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
    on_bytes: Callable[[str, int, int], None] | None = None,
) -> StoreReport:
    """Send ``objects`` (Datasets, or Part 10 file paths read one at a time) to ``dest``.

    Proposed, per SOP class: one presentation context per syntax among the objects' own
    (or ``dest.transfer_syntax``), explicit and implicit VR little endian. An object whose
    syntax the peer did not accept is transcoded, keeping its SOP Instance UID, to one it
    did: never to a lossy syntax unless it is already encoded that way.

    Up to ``dest.associations`` associations are opened at once, each taking the next
    object when it is ready for one; one that cannot be established is not an error
    while another is (the peer may serve one at a time, or limit how many it takes).

    One object's failure is that object's alone. A failure status aborts its association
    (and a peer may abort it, or not answer): the rest goes on over a fresh one, and the
    other associations go on meanwhile. After ``MAX_FRUITLESS`` associations in a row
    that ended with nothing stored (refusals for good left aside) the transfer gives up:
    the rest is "not sent", with the reason. An object the peer refuses for good (a
    failure status other than out of resources, no presentation context for its SOP
    class or syntax) or that cannot be read or encoded is "rejected"; a timeout, an
    abort, 0xA700 are a "failure" (worth another attempt). Warnings are recorded.
    ``progress`` is called after each object and whenever bytes are sent; the byte
    updates come from pynetdicom's connection threads. ``on_bytes(SOP Instance UID,
    sent, size)`` counts the data set bytes of each file sent as it is (see
    :func:`.filestream.send_file`).
    """
    start = time.perf_counter()
    report = StoreReport(dest)
    items: list[_Item] = []
    for index, obj in enumerate(objects):
        try:
            items.append(_item(index, obj))
        except (OSError, InvalidDicomError, AttributeError, ValueError) as error:
            name = fspath(obj) if not isinstance(obj, Dataset) else f"object #{index + 1}"
            category = FAILURE if isinstance(error, OSError) else REJECTED
            message = f"cannot read {name}: {error}"
            report.outcomes.append(ObjectOutcome(index, "", category, None, message, "", name))
    preferred = _preferred_syntax(dest)

    def send_one(assoc: Association, session: Session, item, accepted) -> ObjectOutcome | None:
        return _send_one(assoc, session, item, accepted, preferred, dest, settings, on_bytes)

    total = len(items) + len(report.outcomes)
    transfer = Transfer(dest, settings, items, total, progress, send_one)
    if items:
        contexts = _store_contexts(items, preferred)
        if len(contexts) > 128:
            report.error = f"{len(contexts)} presentation contexts needed, at most 128 are allowed"
            report.outcomes.extend(not_sent(items, report.error))
        else:
            transfer.run(contexts, min(dest.associations, len(items)))
            report.outcomes.extend(transfer.outcomes)
            report.error = transfer.error
            report.bytes_sent = transfer.bytes_sent
    report.outcomes.sort(key=lambda o: o.index)
    if not report.error:  # nothing stopped the transfer: the first object that did not go
        report.error = next((o.message for o in report.outcomes if o.category in UNSTORED), "")
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
    on_bytes: Callable[[str, int, int], None] | None = None,
) -> ObjectOutcome | None:
    uid = str(item.sop_instance)

    def outcome(category: str, status: int | None, message: str, ts: str = "") -> ObjectOutcome:
        return ObjectOutcome(item.index, uid, category, status, message, ts, item.path)

    target = _choose(
        item.syntax, _wanted(item.syntax, preferred), accepted.get(item.sop_class, set())
    )
    if target is None:
        return no_context(item, dest)
    ds: Dataset | None = None  # None: the file is sent as it is
    if not (isinstance(item.source, Path) and item.streamable and target == item.syntax):
        try:
            ds = item.source if isinstance(item.source, Dataset) else pydicom.dcmread(item.source)
            if ds.file_meta.TransferSyntaxUID != target:
                ds = transcode(ds, target)
        except OSError as error:
            return outcome(FAILURE, None, f"cannot read {item.path}: {error}")
        except InvalidDicomError as error:
            return outcome(REJECTED, None, f"cannot read {item.path}: {error}")
        except Ezp2pError as error:  # it cannot be transcoded: it never will be
            return outcome(REJECTED, None, str(error))
        pixel_data = ds[0x7FE00010] if target.is_compressed and 0x7FE00010 in ds else None
        if pixel_data is not None:
            # pynetdicom writes the dataset itself: encapsulated Pixel Data must be marked
            # undefined length (pydicom does so when reading a file, not when building one).
            pixel_data.is_undefined_length = True
    if not assoc.is_established:
        return None  # not offered: it goes over a fresh association
    sent = time.perf_counter()
    try:
        if ds is not None:
            rsp = assoc.send_c_store(ds)
        else:
            counted = partial(on_bytes, uid) if on_bytes is not None else None
            rsp = send_file(
                assoc, item.source, item.sop_class, item.sop_instance, item.syntax, counted
            )
    except (ValueError, TypeError, AttributeError) as error:  # it cannot be encoded
        return outcome(REJECTED, None, f"cannot send: {error}")
    except (RuntimeError, OSError) as error:  # the association went away meanwhile
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
    """(category, text) of a C-STORE status: pynetdicom's category, a failure being
    "rejected" (for good) unless it is one of ``_TRANSIENT_STATUSES`` (a code pynetdicom
    does not know, a cancel or a pending one is a failure, worth another attempt); the
    Storage table's text, or the category's name when the table has none."""
    category = code_to_category(code)
    text = STORAGE_SERVICE_CLASS_STATUS.get(code, (category, ""))[1]
    if category == STATUS_FAILURE and code not in _TRANSIENT_STATUSES:
        return REJECTED, text
    return _CATEGORIES.get(category, FAILURE), text or category
