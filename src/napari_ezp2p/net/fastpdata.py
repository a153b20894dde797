"""The P-DATA fast path: a C-STORE request's P-DATA-TF PDUs written straight to the socket.

pynetdicom does everything else (the association, the context, the response, release,
abort and timeouts); this module writes only the PDUs of one C-STORE request whose data
set comes from a file: the command set, encoded by pynetdicom, then the file's data set
as PDVs at the peer's maximum PDU length, many PDUs per ``socket.sendmsg`` call, whose
buffers are zero-copy slices of an mmap of the file. :func:`usable` says when it applies:
an established association over a plain TCP socket (not TLS), with nothing queued to
its DUL, a peer maximum PDU of at least 1 KB and a data set of even length; anything else
goes by pynetdicom's own path (:mod:`.filestream`).

The pynetdicom internals this relies on (pynetdicom is pinned to 3.0.x; the test
``tests/net/test_fastpdata.py::test_the_pynetdicom_internals_the_fast_path_relies_on``
fails when they change):

- ``assoc.dul.socket`` is the ``AssociationSocket``; its ``socket`` is the connected
  ``socket.socket``; ``dul.state_machine.current_state`` is ``"Sta6"`` while established.
- The DUL thread writes on the socket only through ``AssociationSocket.send(bytes)``
  (its state machine's actions and its reactor's own A-ABORT), and only for a primitive
  of ``dul.to_provider_queue`` or an event of ``dul.event_queue``: with both empty, it
  has nothing to write. pynetdicom has no socket lock: while the PDUs are written this
  module shadows that socket's ``send`` with one that waits for them (an A-ABORT from a
  timeout goes after them).
- A failed write is what ``AssociationSocket.send`` makes of one: ``"Evt17"`` (the
  connection closed) on its ``event_queue``; the association then ends and the caller's
  wait for the response returns none.
- ``C_STORE_RQ().primitive_to_message(primitive)`` of a primitive whose
  ``_dataset_path`` is ``(path, offset)`` makes the message (its command set says a data
  set follows); its ``encode_msg(context_id, max_pdu)`` yields the command set's
  ``P_DATA`` primitives first, the last one's PDV header ``0b11``, and reads the file only
  when asked for the next; ``P_DATA_TF.from_primitive`` and ``encode`` make their PDUs.
- ``evt.EVT_DIMSE_SENT`` (``{"message"}``), ``evt.EVT_PDU_SENT`` (``{"pdu"}``) and
  ``evt.EVT_DATA_SENT`` (``{"data"}``: the bytes written) are triggered as pynetdicom's
  own path does, ``EVT_DATA_SENT`` once per buffer written, no ``EVT_PDU_SENT`` for the
  data set's PDUs.
"""

from __future__ import annotations

import contextlib
import mmap
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path

from pynetdicom import evt
from pynetdicom.association import Association
from pynetdicom.dimse_messages import C_STORE_RQ
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.pdu import P_DATA_TF

#: The smallest peer maximum PDU length the fast path writes to (smaller: pynetdicom's path).
MIN_PDU = 1024
#: PDUs per ``sendmsg`` call: two buffers each (header, data), within Linux's IOV_MAX.
PDUS_PER_CALL = 256
#: A P-DATA-TF PDU of one PDV: its type, reserved byte, PDU length, the PDV's item
#: length, presentation context ID and message control header (PS3.8 9.3.5, E.2).
_HEADER = struct.Struct(">BBLLBB")
_P_DATA_TF = 0x04
_DATA_FRAGMENT, _LAST_DATA_FRAGMENT, _LAST_COMMAND_FRAGMENT = 0b00, 0b10, 0b11
#: The bytes a PDU's header takes out of the peer's maximum PDU length (its type, the
#: reserved byte and its length field are not counted).
_OVERHEAD = _HEADER.size - 6


def usable(assoc: Association, size: int) -> bool:
    """The fast path applies to a data set of ``size`` bytes on ``assoc`` now."""
    dul = assoc.dul
    sock = dul.socket.socket if dul.socket is not None else None
    return (
        assoc.is_established
        and type(sock) is socket.socket  # an ssl.SSLSocket has no sendmsg
        and dul.state_machine.current_state == "Sta6"
        and dul.to_provider_queue.empty()
        and dul.event_queue.empty()
        and assoc.dimse.maximum_pdu_size >= MIN_PDU
        and size > 0
        and size % 2 == 0
    )


def send_c_store(
    assoc: Association,
    primitive: C_STORE,
    context_id: int,
    path: Path,
    offset: int,
    on_bytes: Callable[[int, int], None] | None = None,
) -> None:
    """Write the C-STORE request ``primitive`` (no data set of its own) with the data set
    of the file at ``path`` from ``offset`` to its end, as ``dimse.send_msg`` would.

    ``on_bytes(sent, size)`` counts the data set's bytes as they are written, ending at
    exactly its size. A write that fails ends the association as pynetdicom does.
    """
    message = C_STORE_RQ()
    primitive.DataSet, primitive._dataset_path = None, (path, offset)
    message.primitive_to_message(primitive)
    message.context_id = context_id
    evt.trigger(assoc, evt.EVT_DIMSE_SENT, {"message": message})
    max_pdu = assoc.dimse.maximum_pdu_size
    commands = []
    for pdata in message.encode_msg(context_id, max_pdu):  # the command set's first
        pdu = P_DATA_TF()
        pdu.from_primitive(pdata)
        commands.append(pdu)
        if pdata.presentation_data_value_list[0][1][0] == _LAST_COMMAND_FRAGMENT:
            break  # before it reads the data set from the file
    peer = assoc.dul.socket
    sock = peer.socket
    lock = threading.Lock()
    send = peer.send

    def send_after_us(data: bytes) -> None:  # the DUL thread's writes wait for ours
        with lock:
            send(data)

    with path.open("rb") as file:
        mm = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    with lock:
        peer.send = send_after_us  # type: ignore[method-assign]
        try:
            for pdu in commands:
                _write(assoc, sock, [memoryview(pdu.encode())])
                evt.trigger(assoc, evt.EVT_PDU_SENT, {"pdu": pdu})
            _write_data_set(assoc, sock, memoryview(mm)[offset:], context_id, max_pdu, on_bytes)
        except OSError:
            peer.event_queue.put("Evt17")  # the connection is closed: pynetdicom's way
        finally:
            del peer.send  # the class's own again
            with contextlib.suppress(BufferError):  # a handler kept a view: closed when freed
                mm.close()


def _write_data_set(
    assoc: Association,
    sock: socket.socket,
    data: memoryview,
    context_id: int,
    max_pdu: int,
    on_bytes: Callable[[int, int], None] | None,
) -> None:
    size, fragment = len(data), max_pdu - _OVERHEAD
    sent = 0
    if on_bytes is not None:
        on_bytes(0, size)

    def counted(buffer: memoryview) -> None:
        nonlocal sent
        if buffer.obj is data.obj:
            sent += len(buffer)
            if on_bytes is not None:
                on_bytes(sent, size)

    start = 0
    while start < size:
        stop = min(size, start + fragment * PDUS_PER_CALL)
        count = -(-(stop - start) // fragment)
        headers = bytearray(_HEADER.size * count)
        buffers: list[memoryview] = []
        view = memoryview(headers)
        for n, at in enumerate(range(start, stop, fragment)):
            piece = data[at : min(at + fragment, stop)]
            flag = _LAST_DATA_FRAGMENT if at + len(piece) == size else _DATA_FRAGMENT
            length = len(piece) + 2
            _HEADER.pack_into(
                headers, n * _HEADER.size, _P_DATA_TF, 0, length + 4, length, context_id, flag
            )
            buffers += (view[n * _HEADER.size : (n + 1) * _HEADER.size], piece)

        _write(assoc, sock, buffers, counted)
        start = stop


def _write(
    assoc: Association,
    sock: socket.socket,
    buffers: list[memoryview],
    written: Callable[[memoryview], None] | None = None,
) -> None:
    """``sock.sendmsg`` of ``buffers``, in order, until all are written."""
    first = 0
    while first < len(buffers):
        count = sock.sendmsg(buffers[first:])
        while count:
            buffer = buffers[first]
            if count < len(buffer):
                done, buffers[first] = buffer[:count], buffer[count:]
            else:
                done = buffer
                first += 1
            count -= len(done)
            evt.trigger(assoc, evt.EVT_DATA_SENT, {"data": done})
            if written is not None:
                written(done)
