"""Our associations as SCU: the AE, opening one and saying why it failed, and C-ECHO.

Every association carries our Implementation Class UID and version name, the timeouts of
:class:`NetworkSettings`, TLS when the destination has it, and TCP_NODELAY on the socket
(pynetdicom leaves Nagle's algorithm on, which costs about 40 ms per C-STORE on loopback:
we set the option from an ``EVT_CONN_OPEN`` handler, before the A-ASSOCIATE-RQ is sent).
That handler also unbinds pynetdicom's standard log handlers when its log is not read.

Maximum PDU: ``NetworkSettings.max_pdu`` is our AE's default receive size;
``Destination.max_pdu`` is the Maximum Length we announce on associations with that
destination (pynetdicom's ``associate(max_pdu=)``). What we send is split into PDUs no
larger than the maximum the peer announces.

Errors: ``echo`` never raises for network trouble, it returns a result that says what
happened; :meth:`Session.open` raises :class:`NetworkError`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE, build_context, evt
from pynetdicom._handlers import (
    standard_dimse_recv_handler,
    standard_dimse_sent_handler,
    standard_pdu_recv_handler,
    standard_pdu_sent_handler,
)
from pynetdicom.association import Association
from pynetdicom.dimse_messages import C_STORE_RQ
from pynetdicom.pdu import A_ABORT_RQ
from pynetdicom.pdu_primitives import A_P_ABORT
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import Verification

from ..core.errors import Ezp2pError
from ..core.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from .destination import Destination, NetworkSettings
from .tls import TlsError, client_context, describe_tls_error

#: The transfer syntaxes proposed for Verification and the queries (spec 4.1.2.1.2, 4.1.2.3.2).
NATIVE_SYNTAXES = (ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian)

#: What pynetdicom binds to every association to describe its PDUs and DIMSE messages in
#: its log: a tenth of a large transfer's CPU time, so unbound from ours when that log is
#: not read (``_config.LOG_HANDLER_LEVEL`` would decide it for the whole process).
_STANDARD_LOG_HANDLERS = (
    (evt.EVT_DIMSE_RECV, standard_dimse_recv_handler),
    (evt.EVT_DIMSE_SENT, standard_dimse_sent_handler),
    (evt.EVT_PDU_RECV, standard_pdu_recv_handler),
    (evt.EVT_PDU_SENT, standard_pdu_sent_handler),
)


_CONNECTION_LOST = "the connection was lost (A-P-ABORT)"


class NetworkError(Ezp2pError):
    """An association that could not be made or was lost (the message says how and why)."""


def name_of(dest: Destination) -> str:
    """How a message names a destination: its name, and its address when that differs."""
    return dest.name if dest.name == dest.address else f"{dest.name} ({dest.address})"


def make_ae(settings: NetworkSettings) -> AE:
    """Our application entity: AE title, implementation identity, PDU size, timeouts.

    The TCP connect is bounded by ``acse_timeout`` (it is part of establishing the
    association), and so is the wait for the answer to our request, to its last byte
    (:meth:`Session._end_negotiation`).
    """
    ae = AE(ae_title=settings.ae_title)
    ae.implementation_class_uid = IMPLEMENTATION_CLASS_UID
    ae.implementation_version_name = IMPLEMENTATION_VERSION_NAME
    ae.maximum_pdu_size = settings.max_pdu
    ae.acse_timeout = settings.acse_timeout
    ae.dimse_timeout = settings.dimse_timeout
    ae.network_timeout = settings.network_timeout
    ae.connection_timeout = settings.acse_timeout
    return ae


class Session:
    """One association attempt and what its events said."""

    def __init__(self, dest: Destination, settings: NetworkSettings) -> None:
        self.dest = dest
        self.settings = settings
        self.connected = False
        self.timed_out = False  # the ACSE timeout ended the negotiation
        self._deadline: threading.Timer | None = None
        self.peer_abort = ""
        self.answers = 0  # DIMSE responses received on this association
        self.answered_before = False  # the peer answered an earlier association of ours
        self.storing = ""  # the SOP Instance UID of the last C-STORE request sent
        self.bytes_sent = 0
        self.on_bytes: Callable[[int], None] | None = None
        self.assoc: Association | None = None
        self.keep_identifiers = False
        self.identifiers: list[tuple[bytes, UID]] = []  # raw C-FIND-RSP data sets, in order

    def _dimse_sent(self, event: evt.Event) -> None:
        if isinstance(event.message, C_STORE_RQ):
            self.storing = str(event.message.command_set.AffectedSOPInstanceUID)

    def _dimse_recv(self, event: evt.Event) -> None:
        message = event.message
        self.answers += 1  # the peer sends no requests on our associations
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
            self._deadline = threading.Timer(
                self.settings.acse_timeout, self._end_negotiation, (event.assoc, sock)
            )
            self._deadline.daemon = True
            self._deadline.start()
        if not logging.getLogger("pynetdicom").isEnabledFor(logging.INFO):
            for log_event, handler in _STANDARD_LOG_HANDLERS:
                event.assoc.unbind(log_event, handler)

    def _end_negotiation(self, assoc: Association, sock: socket.socket) -> None:
        """Close the connection of an association still waiting for its A-ASSOCIATE-AC.

        pynetdicom's ACSE timeout ends its wait for the AC, but its connection thread
        reads a PDU to the end with no timeout: a peer sending the AC a byte at a time
        would hold the association (and its abort) for as long as it likes.
        """
        if assoc.dul.state_machine.current_state != "Sta5":  # awaiting the AC or RJ
            return
        self.timed_out = True
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)  # the connection thread's read returns

    def _acse_recv(self, event: evt.Event) -> None:
        if isinstance(event.primitive, A_P_ABORT) and not self.peer_abort:
            self.peer_abort = _CONNECTION_LOST

    def ended_by_peer(self) -> str:
        """How the peer ended the association ("" when it did not, as far as we know): its
        A-ABORT, or the connection lost (an A-P-ABORT our caller has not read yet)."""
        lost = self.assoc is not None and self.assoc.acse.is_aborted("a-p-abort")
        if lost and not self.peer_abort:
            self.peer_abort = _CONNECTION_LOST
        return self.peer_abort

    def _pdu_recv(self, event: evt.Event) -> None:
        pdu = event.pdu
        if isinstance(pdu, A_ABORT_RQ):
            # the reason is given only when the service provider aborts (PS3.8 9.3.8)
            reason = f", reason: {pdu.reason_str}" if pdu.source == 2 else ""
            self.peer_abort = f"A-ABORT, source: {pdu.source_str}{reason}"

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
            (evt.EVT_DIMSE_SENT, self._dimse_sent),
            (evt.EVT_DATA_SENT, self._data_sent),
        ]
        where = name_of(self.dest)
        try:
            found = socket.getaddrinfo(self.dest.host, self.dest.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise NetworkError(
                f"cannot connect to {where}: unknown host {self.dest.host!r} ({reason})"
            ) from None
        try:
            assoc = ae.associate(
                found[0][4][0],
                self.dest.port,
                contexts=contexts,
                ae_title=self.dest.ae_title,
                max_pdu=self.dest.max_pdu,
                evt_handlers=handlers,
                tls_args=tls_args,
            )
        finally:
            if self._deadline is not None:
                self._deadline.cancel()
        self.assoc = assoc
        if not assoc.is_established:
            raise NetworkError(self._failure(assoc))
        _bound_send_queue(assoc, self.settings.network_timeout)
        _responses_for_the_caller(assoc)
        return assoc

    def _failure(self, assoc: Association) -> str:
        where = name_of(self.dest)
        if assoc.is_rejected:
            rj = assoc.acceptor.primitive
            result = "permanently" if rj.result == 1 else "transiently"
            return (
                f"{where} rejected the association {result} (source: {rj.source_str}): "
                f"{rj.reason_str.lower()}"
            )
        if not self.connected:
            return f"cannot connect to {where}: {self._diagnose()}"
        if self.timed_out:
            return self._no_answer()
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
        return self._no_answer()

    def _no_answer(self) -> str:
        return (
            f"{name_of(self.dest)} did not answer the association request within "
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


def contexts_for(abstract: str, syntaxes: Sequence[str]) -> list[PresentationContext]:
    """One presentation context per transfer syntax: a peer may pick any one of a context's
    syntaxes, and pynetdicom does not transcode."""
    return [build_context(abstract, ts) for ts in syntaxes]


def release(assoc: Association) -> None:
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
    session = Session(dest, settings)
    try:
        assoc = session.open(contexts_for(Verification, NATIVE_SYNTAXES))
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
            message = no_response(session, dest, settings, time.perf_counter() - sent)
            return EchoResult(False, None, seconds, message)
        if status != 0:
            return EchoResult(
                False, status, seconds, f"{dest.name} answered the C-ECHO with 0x{status:04X}"
            )
        return EchoResult(True, 0, seconds)
    finally:
        release(assoc)


def no_response(
    session: Session, dest: Destination, settings: NetworkSettings, waited: float
) -> str:
    """Why a request got no response after ``waited`` seconds: what the peer did, and the
    object it was receiving. Our AE title is named only when the peer has answered none
    of our requests yet, on this association or an earlier one of the same transfer (a
    peer that does not know it may abort at the first, as Orthanc does)."""
    where = name_of(dest)
    receiving = f" while receiving {session.storing}" if session.storing else ""
    hint = (
        ""
        if session.answers or session.answered_before
        else f"; the first request of the association: does it know our AE title "
        f"{settings.ae_title!r}?"
    )
    ended = session.ended_by_peer()
    if ended:
        return f"{where} aborted the association{receiving} ({ended}){hint}"
    if waited < settings.dimse_timeout * 0.9:
        return f"{where} closed the association{receiving} without answering{hint}"
    return (
        f"{where} did not answer within {settings.dimse_timeout:g} s (DIMSE timeout): "
        "association aborted"
    )
