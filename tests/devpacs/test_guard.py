"""What one peer can hold of the local PACS: slots, time and memory, tried with raw
sockets against a running server, and a pynetdicom echo that must still get through."""

from __future__ import annotations

import socket
import struct
import time

import psutil
from pydicom.uid import ImplicitVRLittleEndian
from pynetdicom import build_context
from pynetdicom.dul import DULServiceProvider
from pynetdicom.sop_class import Verification

from napari_ezp2p.devpacs.entity import ServerLimits
from napari_ezp2p.devpacs.guard import GuardedSocket
from tests.devpacs.helpers import associate, port_of

ECHO = [build_context(Verification, ImplicitVRLittleEndian)]
#: The first bytes of an A-ASSOCIATE-RQ (type 1, length 200): the rest never comes.
_RQ_START = b"\x01\x00\x00\x00\x00\xc8\x00\x01"


def _echo_succeeds(server) -> bool:
    assoc = associate(server, ECHO)
    try:
        return assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()


def _connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port_of(server)), timeout=30)


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed ``sock``: it reads end-of-file (after an A-ABORT)."""
    try:
        while chunk := sock.recv(4096):
            if chunk[:1] != b"\x07":
                return False
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_trickling_peers_neither_block_an_echo_nor_keep_their_slot(start):
    server = start(limits=ServerLimits(negotiation_timeout=3))
    tricklers = [_connect(server) for _ in range(11)]
    started = time.monotonic()
    try:
        for n in range(2):  # a byte a second: each one would extend a per-read timeout
            for sock in tricklers:
                sock.send(_RQ_START[n : n + 1])
            time.sleep(0.5)
        assert _echo_succeeds(server)
        for sock in tricklers:
            sock.settimeout(10)
            assert _closed_by_server(sock)
        assert time.monotonic() - started < 8
        assert _echo_succeeds(server)
    finally:
        for sock in tricklers:
            sock.close()


def test_silent_connections_are_closed_after_the_negotiation_timeout(start):
    server = start(limits=ServerLimits(negotiation_timeout=2))
    silent = [_connect(server) for _ in range(11)]
    try:
        assert _echo_succeeds(server)
        for sock in silent:
            sock.settimeout(8)
            assert _closed_by_server(sock)
    finally:
        for sock in silent:
            sock.close()


def test_a_pdu_over_the_negotiated_maximum_aborts_the_association(start):
    """A P-DATA-TF header claiming 1 GiB: the server aborts before reading its body."""
    server = start()
    process = psutil.Process()
    before = process.memory_info().rss
    assoc = associate(server, ECHO)
    raw = assoc.dul.socket.socket
    raw.sendall(struct.pack(">BBL", 0x04, 0, 1 << 30), socket.MSG_NOSIGNAL)
    body = bytes(1 << 20)
    sent = 0
    try:
        while sent < 256 << 20:
            raw.sendall(body, socket.MSG_NOSIGNAL)  # EPIPE once closed, whatever SIGPIPE
            sent += len(body)
    except OSError:
        pass  # the server closed the connection
    deadline = time.monotonic() + 10
    while not assoc.is_aborted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert assoc.is_aborted
    assert sent < 256 << 20
    assert process.memory_info().rss - before < 64 << 20
    assert _echo_succeeds(server)


def test_pdus_up_to_the_maximum_still_pass(start):
    """A C-ECHO answers through the guard, which is what the DUL reads through."""
    server = start()
    assoc = associate(server, ECHO)
    try:
        (accepted,) = server.active_associations
        assert isinstance(accepted.dul.socket, GuardedSocket)
        assert assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()


def test_the_pynetdicom_internals_the_guard_relies_on_are_still_there():
    """guard's docstring names them: the DUL's ``socket`` attribute and its reader."""
    import inspect

    reader = inspect.getsource(DULServiceProvider._read_pdu_data)
    assert "self.socket.recv(6)" in reader
    assert "self.socket.recv(pdu_length)" in reader
    assert '"Evt19"' in reader
