"""A peer that answers an association request with a valid A-ASSOCIATE-AC, one byte a second."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RQ

from napari_ezp2p.net.destination import Destination


def _read_pdu(connection: socket.socket) -> bytes:
    header = b""
    while len(header) < 6:
        header += connection.recv(6 - len(header))
    _, _, length = struct.unpack(">BBL", header)
    body = b""
    while len(body) < length:
        body += connection.recv(length - len(body))
    return header + body


def accept_everything(request: bytes) -> bytes:
    """The A-ASSOCIATE-AC accepting every context of ``request`` in its first syntax."""
    rq = A_ASSOCIATE_RQ()
    rq.decode(request)
    primitive = rq.to_primitive()
    primitive.result = 0x00
    primitive.result_source = 0x01
    results = []
    for cx in primitive.presentation_context_definition_list:
        cx.transfer_syntax = cx.transfer_syntax[:1]
        cx.result = 0x00
        results.append(cx)
    primitive.presentation_context_definition_results_list = results
    ac = A_ASSOCIATE_AC()
    ac.from_primitive(primitive)
    return ac.encode()


@contextmanager
def trickling_peer(seconds_per_byte: float = 1.0) -> Iterator[Destination]:
    """A port whose peer reads each A-ASSOCIATE-RQ, then sends its AC a byte at a time;
    it stops when the connection is closed (or after the whole AC)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def trickle(connection: socket.socket) -> None:
        with connection:
            try:
                answer = accept_everything(_read_pdu(connection))
                for byte in answer:
                    if stop.is_set():
                        return
                    connection.sendall(bytes([byte]))
                    time.sleep(seconds_per_byte)
            except OSError:
                return

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=trickle, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield Destination("trickler", "TRICKLER", "127.0.0.1", server.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        server.close()
