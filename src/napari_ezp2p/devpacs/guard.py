"""Bounds on what one peer can make the local PACS read: time and PDU size.

pynetdicom's reader blocks until a whole PDU has arrived, however slowly it trickles in,
and believes the length a PDU header claims. This module is the one place that relies on
two pynetdicom internals (checked with 3.0), each covered by tests/devpacs/test_guard.py:

- ``Association.dul.socket``: the :class:`pynetdicom.transport.AssociationSocket` the
  DUL reads and writes through, which :func:`guard_connection` replaces by a
  :class:`GuardedSocket` from an ``EVT_CONN_OPEN`` handler, before the association runs;
- ``DULServiceProvider._read_pdu_data`` reads each PDU as ``recv(6)`` (type, reserved,
  length) and then ``recv(length)``, and takes a short read as a closed connection;
  ``"Evt19"`` on the DUL's event queue is the state machine's "invalid PDU", answered
  with an A-ABORT.
"""

from __future__ import annotations

import logging
import socket
import struct
import time

logger = logging.getLogger(__name__)

PDU_HEADER = 6
P_DATA_TF = 0x04
#: The PDU types of PS3.8 9.3; pynetdicom reads no body for any other.
_KNOWN_TYPES = frozenset(range(0x01, 0x08))
#: Any PDU but P-DATA: an A-ASSOCIATE-RQ with 128 presentation contexts, each with
#: dozens of transfer syntaxes, and a user identity, fits well within this.
OTHER_PDU_LIMIT = 1024 * 1024
_INVALID_PDU = "Evt19"
_CHUNK = 65536


class GuardedSocket:
    """An accepted connection's AssociationSocket, read within two bounds.

    - Time: the A-ASSOCIATE-RQ must be complete within ``negotiation_timeout`` of the
      connection opening, and every later PDU within ``pdu_timeout`` of its first byte:
      sending a byte now and then extends neither.
    - Size: a P-DATA-TF longer than the maximum we advertised (``acceptor.maximum_length``,
      0 = no limit), or any other PDU longer than :data:`OTHER_PDU_LIMIT`, is refused
      from its header, before its body is read.

    A refused or late PDU aborts the association (A-ABORT, then the connection closes).
    Everything but ``recv`` is the wrapped socket's.
    """

    def __init__(self, wrapped, assoc, negotiation_timeout: float, pdu_timeout: float) -> None:
        self._wrapped = wrapped
        self._assoc = assoc
        self._negotiation_deadline = time.monotonic() + negotiation_timeout
        self._pdu_timeout = pdu_timeout
        self._send_timeout = pdu_timeout
        self._deadline = self._negotiation_deadline
        self._body_next = False
        if wrapped.socket is not None:
            wrapped.socket.settimeout(self._send_timeout)

    def __getattr__(self, name: str):
        return getattr(self._wrapped, name)

    def recv(self, nr_bytes: int) -> bytearray:
        """``nr_bytes`` from the peer, or fewer when it closes, is too slow or too big."""
        if self._body_next:
            self._body_next = False
            return self._read(nr_bytes)
        self._deadline = time.monotonic() + self._pdu_timeout
        if not self._assoc.is_established:
            self._deadline = min(self._deadline, self._negotiation_deadline)
        header = self._read(nr_bytes)
        if len(header) != PDU_HEADER:
            return header
        pdu_type, _, length = struct.unpack(">BBL", header)
        limit = self._limit(pdu_type)
        if limit and length > limit:
            self._refuse(f"a PDU of {length} bytes, over the maximum of {limit}")
            return bytearray()
        self._body_next = pdu_type in _KNOWN_TYPES
        return header

    def _limit(self, pdu_type: int) -> int:
        if pdu_type == P_DATA_TF:
            return self._assoc.acceptor.maximum_length
        return OTHER_PDU_LIMIT

    def _read(self, nr_bytes: int) -> bytearray:
        raw = self._wrapped.socket
        data = bytearray()
        try:
            while len(data) < nr_bytes:
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                raw.settimeout(remaining)
                chunk = raw.recv(min(nr_bytes - len(data), _CHUNK))
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            self._refuse("a PDU that did not arrive in time")
            return bytearray()
        finally:
            if self._wrapped.socket is not None:
                self._wrapped.socket.settimeout(self._send_timeout)
        return data

    def _refuse(self, what: str) -> None:
        requestor = self._assoc.requestor
        logger.warning("aborting the association from %s: %s", requestor.address, what)
        self._wrapped.event_queue.put(_INVALID_PDU)


def guard_connection(event, negotiation_timeout: float, pdu_timeout: float) -> None:
    """An EVT_CONN_OPEN handler: read this connection through a :class:`GuardedSocket`,
    with Nagle's algorithm off (it costs ~40 ms per small message on loopback)."""
    dul = event.assoc.dul
    sock = dul.socket.socket
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            logger.debug("could not set TCP_NODELAY", exc_info=True)
    dul.socket = GuardedSocket(dul.socket, event.assoc, negotiation_timeout, pdu_timeout)
