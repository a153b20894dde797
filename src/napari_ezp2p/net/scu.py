"""Our side of DICOM networking: Verification, Storage, Study Root C-FIND and Worklist, as SCU.

Every association carries our Implementation Class UID and version name, the timeouts of
:class:`NetworkSettings`, TLS when the destination has it, and TCP_NODELAY on the socket
(pynetdicom leaves Nagle's algorithm on, which costs about 40 ms per C-STORE on loopback:
we set the option from an ``EVT_CONN_OPEN`` handler, before the A-ASSOCIATE-RQ is sent).

Maximum PDU: ``NetworkSettings.max_pdu`` is our AE's default receive size;
``Destination.max_pdu`` is the Maximum Length we announce on associations with that
destination (pynetdicom's ``associate(max_pdu=)``). What we send is split into PDUs no
larger than the maximum the peer announces.

Errors: ``echo`` and ``store`` never raise for network trouble, they return a result that
says what happened. The queries return their matches or raise :class:`NetworkError`
(association failures) / :class:`QueryError` (a failure status from the peer).
"""

from __future__ import annotations

import copy
import logging
import re
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from io import BytesIO
from os import PathLike, fspath
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_dataset, read_file_meta_info
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE, _config, build_context, evt
from pynetdicom.association import Association
from pynetdicom.pdu import A_ABORT_RQ
from pynetdicom.pdu_primitives import A_P_ABORT
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (
    ModalityWorklistInformationFind,
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)
from pynetdicom.status import (
    MODALITY_WORKLIST_SERVICE_CLASS_STATUS,
    QR_FIND_SERVICE_CLASS_STATUS,
    STORAGE_SERVICE_CLASS_STATUS,
)

from ..core.errors import ConversionError, Ezp2pError
from ..core.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from ..core.image import SourceImage
from ..core.pixels import set_pixel_data
from ..core.transfer import transfer_syntax
from .destination import Destination, NetworkSettings
from .tls import TlsError, client_context, describe_tls_error

log = logging.getLogger(__name__)

#: The transfer syntaxes proposed for Verification and the queries (spec 4.1.2.1.2, 4.1.2.3.2).
NATIVE_SYNTAXES = (ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian)
#: Fallbacks proposed beside each object's own syntax, best first.
FALLBACK_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)

SUCCESS = "success"
WARNING = "warning"
FAILURE = "failure"
NOT_SENT = "not sent"

_LOSSY_ATTRIBUTES = (
    "LossyImageCompression",
    "LossyImageCompressionRatio",
    "LossyImageCompressionMethod",
)


#: A-ABORT reasons when the service provider aborts (PS3.8 9.3.8).
_ABORT_REASONS = {
    0: "reason not specified",
    1: "unrecognised PDU",
    2: "unexpected PDU",
    4: "unrecognised PDU parameter",
    5: "unexpected PDU parameter",
    6: "invalid PDU parameter value",
}


class NetworkError(Ezp2pError):
    """An association that could not be made or was lost (the message says how and why)."""


class QueryError(NetworkError):
    """A C-FIND the peer answered with a failure status, or a query that cannot be sent."""


class TranscodeError(Ezp2pError):
    """An object that cannot be re-encoded in the transfer syntax the peer accepted."""


# ---------------------------------------------------------------------------------------
# Associations


def _where(dest: Destination) -> str:
    """How a message names a destination: its name, and its address when that differs."""
    return dest.name if dest.name == dest.address else f"{dest.name} ({dest.address})"


def make_ae(settings: NetworkSettings) -> AE:
    """Our application entity: AE title, implementation identity, PDU size, timeouts.

    The TCP connect is bounded by ``acse_timeout`` (it is part of establishing the
    association).
    """
    # pynetdicom's standard handlers describe every PDU and DIMSE message in its log, a
    # tenth of a large transfer's CPU time: bound only when that log is read.
    logged = logging.getLogger("pynetdicom").isEnabledFor(logging.INFO)
    _config.LOG_HANDLER_LEVEL = "standard" if logged else "none"
    ae = AE(ae_title=settings.ae_title)
    ae.implementation_class_uid = IMPLEMENTATION_CLASS_UID
    ae.implementation_version_name = IMPLEMENTATION_VERSION_NAME
    ae.maximum_pdu_size = settings.max_pdu
    ae.acse_timeout = settings.acse_timeout
    ae.dimse_timeout = settings.dimse_timeout
    ae.network_timeout = settings.network_timeout
    ae.connection_timeout = settings.acse_timeout
    return ae


class _Session:
    """One association attempt and what its events said."""

    def __init__(self, dest: Destination, settings: NetworkSettings) -> None:
        self.dest = dest
        self.settings = settings
        self.connected = False
        self.peer_abort = ""
        self.bytes_sent = 0
        self.on_bytes: Callable[[int], None] | None = None
        self.assoc: Association | None = None
        self.keep_identifiers = False
        self.identifiers: list[tuple[bytes, UID]] = []  # raw C-FIND-RSP data sets, in order

    def _dimse_recv(self, event: evt.Event) -> None:
        message = event.message
        raw = message.data_set.getvalue() if message.data_set is not None else b""
        if self.keep_identifiers and raw:
            syntax = next(
                cx.transfer_syntax[0]
                for cx in event.assoc.accepted_contexts
                if cx.context_id == message.context_id
            )
            self.identifiers.append((raw, UID(syntax)))

    def _conn_open(self, event: evt.Event) -> None:
        self.connected = True
        sock = event.assoc.dul.socket.socket
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _acse_recv(self, event: evt.Event) -> None:
        if isinstance(event.primitive, A_P_ABORT) and not self.peer_abort:
            self.peer_abort = "the connection was lost (A-P-ABORT)"

    def _pdu_recv(self, event: evt.Event) -> None:
        pdu = event.pdu
        if isinstance(pdu, A_ABORT_RQ):
            source = {0: "service user", 2: "service provider"}.get(pdu.source, "peer")
            reason = _ABORT_REASONS.get(pdu.reason_diagnostic, "") if pdu.source == 2 else ""
            self.peer_abort = f"A-ABORT from the {source}" + (f": {reason}" if reason else "")

    def _data_sent(self, event: evt.Event) -> None:
        self.bytes_sent += len(event.data)
        if self.on_bytes is not None:
            self.on_bytes(self.bytes_sent)

    def open(self, contexts: list[PresentationContext]) -> Association:
        """An established association, or NetworkError saying why there is none."""
        ae = make_ae(self.settings)
        tls_args = None
        if self.dest.tls is not None:
            try:
                tls_args = (client_context(self.dest.tls), self.dest.host)
            except TlsError as error:
                raise NetworkError(f"{self.dest.name}: {error}") from None
        handlers = [
            (evt.EVT_CONN_OPEN, self._conn_open),
            (evt.EVT_ACSE_RECV, self._acse_recv),
            (evt.EVT_PDU_RECV, self._pdu_recv),
            (evt.EVT_DIMSE_RECV, self._dimse_recv),
            (evt.EVT_DATA_SENT, self._data_sent),
        ]
        where = _where(self.dest)
        try:
            found = socket.getaddrinfo(self.dest.host, self.dest.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise NetworkError(
                f"cannot connect to {where}: unknown host {self.dest.host!r} ({reason})"
            ) from None
        assoc = ae.associate(
            found[0][4][0],
            self.dest.port,
            contexts=contexts,
            ae_title=self.dest.ae_title,
            max_pdu=self.dest.max_pdu,
            evt_handlers=handlers,
            tls_args=tls_args,
        )
        self.assoc = assoc
        if not assoc.is_established:
            raise NetworkError(self._failure(assoc))
        _bound_send_queue(assoc, self.settings.network_timeout)
        _responses_for_the_caller(assoc)
        return assoc

    def _failure(self, assoc: Association) -> str:
        where = _where(self.dest)
        if assoc.is_rejected:
            rj = assoc.acceptor.primitive
            result = "permanently" if rj.result == 1 else "transiently"
            return (
                f"{where} rejected the association {result} (source: {rj.source_str}): "
                f"{rj.reason_str.lower()}"
            )
        if not self.connected:
            return f"cannot connect to {where}: {self._diagnose()}"
        if self.peer_abort.startswith("A-ABORT"):
            return (
                f"{where} aborted the association request ({self.peer_abort}): it may not "
                f"know our AE title {self.settings.ae_title!r}"
            )
        if self.peer_abort:
            return (
                f"{where} closed the connection during the association request "
                "(is it a DICOM port, with TLS as configured?)"
            )
        if assoc.rejected_contexts and not assoc.accepted_contexts:
            return f"{where} accepted none of the presentation contexts we proposed"
        return (
            f"{where} did not answer the association request within "
            f"{self.settings.acse_timeout:g} s"
        )

    def _diagnose(self) -> str:
        """Why a TCP (and TLS) connection fails: pynetdicom only logs the reason, so try
        once more ourselves and name the error."""
        timeout = self.settings.acse_timeout
        try:
            with socket.create_connection((self.dest.host, self.dest.port), timeout) as sock:
                if self.dest.tls is not None:
                    context = client_context(self.dest.tls)
                    with context.wrap_socket(sock, server_hostname=self.dest.host):
                        pass
        except ssl.SSLError as error:
            return describe_tls_error(error)
        except socket.gaierror as error:
            return f"unknown host {self.dest.host!r} ({error.strerror})"
        except TimeoutError:
            return f"no answer within {timeout:g} s (connection timed out)"
        except ConnectionRefusedError:
            return f"connection refused (nothing listens on port {self.dest.port})"
        except OSError as error:
            return error.strerror or str(error)
        return "the connection failed once, then succeeded (an unstable network?)"


#: About how many bytes of P-DATA may wait for pynetdicom's connection thread.
SEND_QUEUE_BYTES = 4 << 20


def _bound_send_queue(assoc: Association, patience: float | None) -> None:
    """Make the sending thread wait while the connection thread has enough P-DATA queued.

    pynetdicom's DIMSE layer puts every PDU of a message on an unbounded queue at once,
    which the connection thread then writes to the socket: a 42 MB object read from its
    file would sit in memory almost whole. Here ``dul.send_pdu`` waits while about
    ``SEND_QUEUE_BYTES`` are queued; the thread's ``get`` wakes it (``Queue.not_full``).
    It stops waiting when the thread has ended, or took nothing for ``patience`` seconds
    (then pynetdicom's own timeouts decide, as without this).
    """
    dul = assoc.dul
    pending = dul.to_provider_queue
    send_pdu = dul.send_pdu
    peer_max = assoc.acceptor.maximum_length or SEND_QUEUE_BYTES
    limit = max(4, min(1024, SEND_QUEUE_BYTES // peer_max))
    step = 0.1

    def bounded(primitive: object) -> None:
        idle = 0.0
        with pending.not_full:
            while len(pending.queue) >= limit and dul.is_alive():
                if pending.not_full.wait(step):
                    idle = 0.0
                else:
                    idle += step
                    if patience is not None and idle >= patience:
                        break
        send_pdu(primitive)

    dul.send_pdu = bounded  # type: ignore[method-assign]


def _responses_for_the_caller(assoc: Association) -> None:
    """Keep pynetdicom's association thread from taking the response a request waits for.

    That thread takes DIMSE messages off the queue to serve the peer's requests. A
    ``send_c_*`` pauses it first, but the pause has a gap: the thread says it is paused,
    passes its checkpoint, and only then takes a message. A response arriving in that gap
    is taken and dropped, and the request waits for the DIMSE timeout (seen about once in
    ten transfers of 100 objects when the process is slowed, e.g. by a profiler). The
    peer never sends us requests on our associations, so only the caller takes messages.
    """
    dimse = assoc.dimse
    get_msg = dimse.get_msg

    def get_msg_outside_the_association_thread(block: bool = False) -> tuple:
        if threading.current_thread() is assoc:
            return None, None
        return get_msg(block)

    dimse.get_msg = get_msg_outside_the_association_thread  # type: ignore[method-assign]


def _contexts(abstract: str, syntaxes: Sequence[str]) -> list[PresentationContext]:
    """One presentation context per transfer syntax: a peer may pick any one of a context's
    syntaxes, and pynetdicom does not transcode."""
    return [build_context(abstract, ts) for ts in syntaxes]


def _release(assoc: Association) -> None:
    if assoc.is_established:
        assoc.release()


# ---------------------------------------------------------------------------------------
# Verification


@dataclass(frozen=True)
class EchoResult:
    """A C-ECHO: ``ok`` when the peer answered Success; ``error`` says why not."""

    ok: bool
    status: int | None
    seconds: float
    error: str = ""


def echo(dest: Destination, settings: NetworkSettings) -> EchoResult:
    """Verify ``dest`` with a C-ECHO; never raises for network trouble."""
    start = time.perf_counter()
    session = _Session(dest, settings)
    try:
        assoc = session.open(_contexts(Verification, NATIVE_SYNTAXES))
    except NetworkError as error:
        return EchoResult(False, None, time.perf_counter() - start, str(error))
    try:
        sent = time.perf_counter()
        try:
            rsp = assoc.send_c_echo()
        except (RuntimeError, ValueError) as error:  # the association went away meanwhile
            return EchoResult(False, None, time.perf_counter() - start, f"{dest.name}: {error}")
        status = rsp.get("Status")
        seconds = time.perf_counter() - start
        if status is None:
            message = _no_response(session, dest, settings, time.perf_counter() - sent)
            return EchoResult(False, None, seconds, message)
        if status != 0:
            return EchoResult(
                False, status, seconds, f"{dest.name} answered the C-ECHO with 0x{status:04X}"
            )
        return EchoResult(True, 0, seconds)
    finally:
        _release(assoc)


def _no_response(
    session: _Session, dest: Destination, settings: NetworkSettings, waited: float
) -> str:
    """Why a request got no response after ``waited`` seconds."""
    where = _where(dest)
    hint = f"does it accept our AE title {settings.ae_title!r} and this kind of object?"
    if session.peer_abort:
        return f"{where} aborted the association ({session.peer_abort}): {hint}"
    if waited < settings.dimse_timeout * 0.9:
        return f"{where} closed the association without answering: {hint}"
    return (
        f"{where} did not answer within {settings.dimse_timeout:g} s (DIMSE timeout): "
        "association aborted"
    )


# ---------------------------------------------------------------------------------------
# Storage


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
        self.sessions: list[_Session] = []
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

    def _open(self, contexts: list[PresentationContext]) -> tuple[Association, _Session] | None:
        session = _Session(self.dest, self.settings)
        session.on_bytes = lambda sent: self._tell(None)
        with self.lock:
            self.sessions.append(session)
        try:
            return session.open(contexts), session
        except NetworkError as error:
            with self.lock:
                self.refusals.append(str(error))
            return None

    def _send_over(self, assoc: Association, session: _Session) -> None:
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
            _release(assoc)

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


def store_many(
    objects: Sequence[StoreObject],
    dests: Sequence[Destination],
    settings: NetworkSettings,
    *,
    progress: Callable[[StoreProgress], None] | None = None,
) -> list[StoreReport]:
    """``store`` to every destination at once, each on its own association (and thread);
    the reports are in the order of ``dests``."""
    if not dests:
        return []
    with ThreadPoolExecutor(max_workers=len(dests), thread_name_prefix="ezp2p-store") as pool:
        futures = [pool.submit(store, objects, d, settings, progress=progress) for d in dests]
        return [f.result() for f in futures]


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


def _is_lossless(syntax: UID) -> bool:
    try:
        return transfer_syntax(str(syntax)).lossless
    except ConversionError:
        return not syntax.is_compressed


def _wanted(own: UID, preferred: UID | None) -> UID:
    """The syntax to propose for an object: the destination's preferred one when getting
    there loses nothing (it is lossless, or the object already is in it), else its own."""
    if preferred is None or preferred == own:
        return own
    return preferred if _is_lossless(preferred) else own


def _choose(own: UID, wanted: UID, accepted: set[UID]) -> UID | None:
    for ts in (wanted, own, *FALLBACK_SYNTAXES):
        if ts in accepted:
            return ts
    return None


def _send_one(
    assoc: Association,
    session: _Session,
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
    payload: Dataset | Path
    if isinstance(item.source, Path) and item.streamable and target == item.syntax:
        # Sent as it is: pynetdicom reads the encoded dataset from the file in PDU-sized
        # pieces (STORE_SEND_CHUNKED_DATASET), never decoding it nor holding it whole.
        # The option is process-wide and only changes send_c_store of a path, which
        # nothing else in this process does; it needs the file's own syntax accepted.
        _config.STORE_SEND_CHUNKED_DATASET = True
        payload = item.source
    else:
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
        payload = ds
    if not assoc.is_established:
        return outcome(FAILURE, None, _no_response(session, dest, settings, 0.0))
    sent = time.perf_counter()
    try:
        rsp = assoc.send_c_store(payload)
    except (ValueError, TypeError, AttributeError, RuntimeError, OSError) as error:
        return outcome(FAILURE, None, f"cannot send: {error}")
    status = rsp.get("Status")
    if status is None:
        message = _no_response(session, dest, settings, time.perf_counter() - sent)
        return outcome(FAILURE, None, message, str(target))
    category, text = _storage_status(int(status))
    comment = rsp.get("ErrorComment")
    message = f"0x{status:04X} {text}" + (f": {comment}" if comment else "")
    return outcome(category, int(status), message, str(target))


def _storage_status(code: int) -> tuple[str, str]:
    """(category, text) of a C-STORE status; unknown 0xBxxx codes are warnings, other
    unknown non-zero codes failures (PS3.4 B.2.3)."""
    known = STORAGE_SERVICE_CLASS_STATUS.get(code)
    if code == 0:
        return SUCCESS, "Success"
    if known is not None:
        category = WARNING if known[0] == "Warning" else FAILURE
        return category, known[1]
    if 0xB000 <= code <= 0xBFFF or code == 0x0001:
        return WARNING, "Warning"
    return FAILURE, "Failure"


# ---------------------------------------------------------------------------------------
# Transcoding


def transcode(ds: Dataset, target: UID | str) -> Dataset:
    """A copy of ``ds`` whose Pixel Data is in ``target``; ``ds`` is left unchanged, the SOP
    Instance UID and lossy compression history are kept.

    Refuses to encode into a lossy syntax (that would need a new SOP Instance UID and is
    the converter's decision, not the sender's). Decoding a lossy object into a native or
    lossless syntax is allowed (the lossy history stays recorded).
    """
    target = UID(target)
    source = ds.file_meta.TransferSyntaxUID
    if source == target:
        return ds
    label = target.name
    if not _is_lossless(target):
        raise TranscodeError(
            f"{ds.SOPInstanceUID}: will not re-encode {source.name} into the lossy {label}"
        )
    out = Dataset()
    for element in ds:
        if element.tag != 0x7FE00010:
            out.add(copy.deepcopy(element))
    out.file_meta = copy.deepcopy(ds.file_meta)
    try:
        image = _source_image(ds)
        if image is not None:
            photometric = ds.get("PhotometricInterpretation")
            set_pixel_data(
                out, image, transfer_syntax(str(target)), multiframe="NumberOfFrames" in ds
            )
            if photometric == "MONOCHROME1":
                out.PhotometricInterpretation = photometric
            for keyword in _LOSSY_ATTRIBUTES:
                if keyword in ds:
                    out[keyword] = copy.deepcopy(ds[keyword])
                elif keyword in out:
                    del out[keyword]
        elif "PixelData" not in ds or not target.is_compressed:
            out = copy.deepcopy(ds)
            if source.is_compressed:
                out.decompress(generate_instance_uid=False)
            elif source.is_little_endian != target.is_little_endian and "PixelData" in ds:
                raise TranscodeError(f"{ds.SOPInstanceUID}: cannot swap the byte order")
            out.file_meta.TransferSyntaxUID = target
        else:
            raise TranscodeError(
                f"{ds.SOPInstanceUID}: the pixel data (signed, palette or over 16 bits) "
                f"cannot be encoded in {label}"
            )
    except (ConversionError, ValueError, TypeError, RuntimeError, NotImplementedError) as error:
        raise TranscodeError(
            f"{ds.SOPInstanceUID}: cannot transcode {source.name} to {label}: {error}"
        ) from None
    out.file_meta.TransferSyntaxUID = target
    return out


def _source_image(ds: Dataset) -> SourceImage | None:
    """The pixels of ``ds`` as our encoder takes them, or None when they don't fit it."""
    if "PixelData" not in ds:
        return None
    samples = ds.get("SamplesPerPixel", 1)
    bits = ds.get("BitsAllocated", 0)
    photometric = ds.get("PhotometricInterpretation", "")
    if (
        ds.get("PixelRepresentation", 0) != 0
        or bits not in (8, 16)
        or samples not in (1, 3)
        or (samples == 3 and bits != 8)
        or photometric in ("PALETTE COLOR", "YBR_PARTIAL_420")
    ):
        return None
    pixels = np.ascontiguousarray(ds.pixel_array)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    pixels = pixels.reshape(frames, ds.Rows, ds.Columns, samples)
    return SourceImage(pixels.astype(f"u{bits // 8}", copy=False), int(ds.BitsStored))


# ---------------------------------------------------------------------------------------
# Queries

#: Study Root keys of the spec (4.1.2.3.3), sent empty (universal matching) unless given.
STUDY_KEYS = (
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyID",
    "StudyInstanceUID",
    "ModalitiesInStudy",
    "ReferringPhysicianName",
    "StudyDescription",
    "BodyPartExamined",
)
SERIES_KEYS = (
    "SeriesDescription",
    "Modality",
    "SeriesNumber",
    "SeriesDate",
    "SeriesTime",
    "SeriesInstanceUID",
    "StudyInstanceUID",
)
#: Modality Worklist keys of the spec; SPS_KEYS go in the Scheduled Procedure Step item.
WORKLIST_KEYS = (
    "AccessionNumber",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "ReferringPhysicianName",
    "StudyID",
    "RequestedProcedureDescription",
)
SPS_KEYS = (
    "ScheduledStationAETitle",
    "ScheduledProcedureStepStartDate",
    "ScheduledProcedureStepStartTime",
    "Modality",
)

_RANGE = {
    "DA": re.compile(r"^(\d{8})?(-(\d{8})?)?$"),
    "TM": re.compile(r"^([\d.:]*)(-[\d.:]*)?$"),
}

Query = Mapping[str, object] | Dataset


def find_studies(
    query: Query,
    dest: Destination,
    settings: NetworkSettings,
    level: str = "STUDY",
    *,
    charset: str = "ISO_IR 192",
) -> list[Dataset]:
    """Study Root C-FIND at ``level`` ("STUDY" or "SERIES"): the matches, in order.

    ``query`` maps DICOM keywords to values: a single value, a wildcard (``*``, ``?``),
    a range ``A-B`` for dates and times; every key of the spec's table that is not given
    is sent empty (universal matching). Other keywords are sent as given.
    Raises NetworkError / QueryError.
    """
    level = level.upper()
    keys = {"STUDY": STUDY_KEYS, "SERIES": SERIES_KEYS}.get(level)
    if keys is None:
        raise QueryError(f"query level {level!r} is not STUDY or SERIES")
    identifier = _identifier(query, keys, (), charset)
    identifier.QueryRetrieveLevel = level
    return _find(identifier, StudyRootQueryRetrieveInformationModelFind, dest, settings, None)


def find_worklist(
    query: Query,
    dest: Destination,
    settings: NetworkSettings,
    fallback_charset: str = "ISO_IR 100",
    *,
    charset: str = "ISO_IR 192",
) -> list[Dataset]:
    """Modality Worklist C-FIND: the scheduled procedure steps matching ``query``.

    Scheduled Station AE Title, Scheduled Procedure Step Start Date/Time and Modality may
    be given at the top level of ``query``: they go into the Scheduled Procedure Step
    Sequence item. Answers that declare no Specific Character Set are decoded with
    ``fallback_charset``. Raises NetworkError / QueryError.
    """
    identifier = _identifier(query, WORKLIST_KEYS, SPS_KEYS, charset)
    return _find(identifier, ModalityWorklistInformationFind, dest, settings, fallback_charset)


def _identifier(
    query: Query, keys: Sequence[str], sps_keys: Sequence[str], charset: str
) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = charset
    values: dict[str, object] = (
        {e.keyword: e.value for e in query if e.keyword}
        if isinstance(query, Dataset)
        else dict(query)
    )
    values.pop("SpecificCharacterSet", None)
    values.pop("QueryRetrieveLevel", None)
    sps = Dataset()
    for keyword in keys:
        setattr(ds, keyword, "")
    for keyword in sps_keys:
        setattr(sps, keyword, "")
    for keyword, value in values.items():
        if keyword == "ScheduledProcedureStepSequence" and sps_keys:
            given = value[0] if isinstance(value, list | tuple) and value else value
            if isinstance(given, Dataset):
                for element in given:
                    sps.add(copy.deepcopy(element))
            continue
        if keyword not in pydicom.datadict.keyword_dict:
            raise QueryError(f"query key {keyword!r} is not a DICOM keyword")
        target = sps if keyword in sps_keys else ds
        try:
            setattr(target, keyword, _checked(keyword, value))
        except (ValueError, TypeError) as error:
            raise QueryError(f"query key {keyword}: {error}") from None
    if sps_keys:
        ds.ScheduledProcedureStepSequence = [sps]
    return ds


def _checked(keyword: str, value: object) -> object:
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    vr = pydicom.datadict.dictionary_VR(keyword)
    pattern = _RANGE.get(vr)
    if pattern and value and "*" not in value and "?" not in value and not pattern.match(value):
        raise ValueError(f"{value!r} is not a {vr} value or range (A-B, A-, -B)")
    return value


def _find(
    identifier: Dataset,
    model: str,
    dest: Destination,
    settings: NetworkSettings,
    fallback_charset: str | None,
) -> list[Dataset]:
    session = _Session(dest, settings)
    session.keep_identifiers = fallback_charset is not None
    assoc = session.open(_contexts(model, NATIVE_SYNTAXES))
    statuses = (
        MODALITY_WORKLIST_SERVICE_CLASS_STATUS
        if fallback_charset is not None
        else QR_FIND_SERVICE_CLASS_STATUS
    )
    matches: list[Dataset] = []
    sent = time.perf_counter()
    try:
        for status, answer in assoc.send_c_find(identifier, model):
            code = status.get("Status")
            if code is None:
                waited = time.perf_counter() - sent
                raise NetworkError(_no_response(session, dest, settings, waited))
            if code in (0xFF00, 0xFF01):
                if answer is not None and fallback_charset is None:
                    matches.append(answer)
                elif answer is not None:
                    raw, syntax = session.identifiers[len(matches)]
                    matches.append(_decoded(raw, syntax, fallback_charset))
                sent = time.perf_counter()
                continue
            if code == 0x0000:
                break
            category, text = statuses.get(code, ("Failure", "Failure"))
            if category in ("Failure", "Cancel") or code not in statuses:
                comment = status.get("ErrorComment")
                raise QueryError(
                    f"{dest.name} ({dest.address}) answered the C-FIND with 0x{code:04X} "
                    f"{text}" + (f": {comment}" if comment else "")
                )
    finally:
        _release(assoc)
    return matches


def _decoded(raw: bytes, syntax: UID, fallback_charset: str) -> Dataset:
    """An identifier decoded from its raw bytes in the charset it declares, or else in
    ``fallback_charset`` (which it then declares). pynetdicom's own decoding may already
    have turned bytes into text in the default repertoire, so it is not used."""
    answer = read_dataset(BytesIO(raw), syntax.is_implicit_VR, syntax.is_little_endian)
    if not answer.get("SpecificCharacterSet"):
        answer.SpecificCharacterSet = fallback_charset
    answer.decode()
    return answer
