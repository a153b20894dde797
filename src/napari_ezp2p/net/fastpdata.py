"""The P-DATA fast path: a C-STORE request's P-DATA-TF PDUs written straight to the socket.

pynetdicom does everything else (the association, the context, the response, release,
abort and timeouts); this module writes only the PDUs of one C-STORE request whose data
set comes from a file: the command set, encoded by pynetdicom, then the file's data set
as PDVs at the peer's maximum PDU length, many PDUs per ``socket.sendmsg`` call, whose
buffers are zero-copy slices of an mmap of the file. :func:`usable` says when it applies:
an established association over a plain TCP socket (not on Windows, which has no
``sendmsg``), with nothing queued to its DUL, a peer maximum PDU of at least 1 KB and a
data set of even length; anything else goes by pynetdicom's own path (:mod:`.filestream`).

TLS goes by pynetdicom's path: an ``ssl.SSLSocket`` has no ``sendmsg`` nor
``MSG_DONTWAIT``, and OpenSSL does not allow one thread to write on a connection while
pynetdicom's DUL thread reads it (a chunked ``sendall`` from this thread, measured 2-3x
faster than pynetdicom's path with a third of its CPU, would do just that).

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
  connection closed) on its ``event_queue``; the state machine then closes the socket
  and ends the caller's wait for the response (none). The socket blocks (no timeout):
  writes go with ``MSG_DONTWAIT``, a full buffer waits ``assoc.network_timeout`` at most.
- ``C_STORE_RQ().primitive_to_message(primitive)`` of a primitive whose
  ``_dataset_path`` is ``(path, offset)`` makes the message (its command set says a data
  set follows); its ``encode_msg(context_id, max_pdu)`` yields the command set's
  ``P_DATA`` primitives first, the last one's PDV header ``0b11``, and reads the file only
  when asked for the next; ``P_DATA_TF.from_primitive`` and ``encode`` make their PDUs.
- ``evt.EVT_DIMSE_SENT`` (``{"message"}``), ``evt.EVT_PDU_SENT`` (``{"pdu"}``) and
  ``evt.EVT_DATA_SENT`` (``{"data"}``: the bytes written) are triggered as pynetdicom's
  own path does, except that ``EVT_DATA_SENT`` comes twice per ``sendmsg`` call (the
  PDU headers written, the file's bytes written) and no ``EVT_PDU_SENT`` for the data
  set's PDUs.
"""

from __future__ import annotations

import contextlib
import mmap
import select
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


#: What it needs of the platform (Windows has neither sendmsg nor MSG_DONTWAIT).
_PLATFORM = all(
    (
        hasattr(socket.socket, "sendmsg"),
        hasattr(socket, "MSG_DONTWAIT"),
        hasattr(mmap, "MADV_DONTNEED"),
    )
)


def usable(assoc: Association, size: int) -> bool:
    """The fast path applies to a data set of ``size`` bytes on ``assoc`` now."""
    dul = assoc.dul
    sock = dul.socket.socket if dul.socket is not None else None
    return (
        _PLATFORM
        and type(sock) is socket.socket  # an ssl.SSLSocket has no sendmsg
        and assoc.dimse.maximum_pdu_size >= MIN_PDU
        and size > 0
        and size % 2 == 0
        and _idle(assoc)
    )


def _idle(assoc: Association) -> bool:
    """Established, and nothing queued to the DUL: it has nothing to write."""
    dul = assoc.dul
    return (
        assoc.is_established
        and dul.state_machine.current_state == "Sta6"
        and dul.to_provider_queue.empty()
        and dul.event_queue.empty()
    )


def send_c_store(
    assoc: Association,
    primitive: C_STORE,
    context_id: int,
    path: Path,
    offset: int,
    on_bytes: Callable[[int, int], None] | None = None,
) -> bool:
    """Write the C-STORE request ``primitive`` (no data set of its own) with the data set
    of the file at ``path`` from ``offset`` to its end, as ``dimse.send_msg`` would;
    False, having written nothing, when the DUL got something to send meanwhile.

    ``on_bytes(sent, size)`` counts the data set's bytes as they are written, ending at
    exactly its size. A write that fails, or that the peer leaves waiting for the
    association's network timeout, ends the association as pynetdicom does.
    """
    message = C_STORE_RQ()
    primitive.DataSet, primitive._dataset_path = None, (path, offset)
    message.primitive_to_message(primitive)
    message.context_id = context_id
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
            if not _idle(assoc):  # from now on, the DUL's writes wait
                return False
            evt.trigger(assoc, evt.EVT_DIMSE_SENT, {"message": message})
            for pdu in commands:
                encoded = memoryview(pdu.encode())
                _write(assoc, sock, [(encoded, 0, len(encoded))])
                evt.trigger(assoc, evt.EVT_PDU_SENT, {"pdu": pdu})
            _write_data_set(assoc, sock, mm, offset, context_id, max_pdu, on_bytes)
        except OSError:  # TimeoutError included
            peer.event_queue.put("Evt17")  # the connection is closed: pynetdicom's way
        finally:
            del peer.send  # the class's own again
            with contextlib.suppress(BufferError):  # a handler kept a view: closed when freed
                mm.close()
    return True


def _write_data_set(
    assoc: Association,
    sock: socket.socket,
    mm: mmap.mmap,
    offset: int,
    context_id: int,
    max_pdu: int,
    on_bytes: Callable[[int, int], None] | None,
) -> None:
    """The file's bytes from ``offset`` on as data set PDVs, a PDU each; the pages
    written are dropped from this process's memory as it goes (the file stays cached)."""
    data = memoryview(mm)[offset:]
    size, fragment = len(data), max_pdu - _OVERHEAD
    sent = 0
    if on_bytes is not None:
        on_bytes(0, size)

    def counted(view: memoryview, length: int) -> None:
        nonlocal sent
        if view is data:
            sent += length
            if on_bytes is not None:
                on_bytes(sent, size)

    start = dropped = 0
    while start < size:
        stop = min(size, start + fragment * PDUS_PER_CALL)
        count = -(-(stop - start) // fragment)
        headers = memoryview(bytearray(_HEADER.size * count))
        parts: list[tuple[memoryview, int, int]] = []
        for n, at in enumerate(range(start, stop, fragment)):
            length = min(fragment, stop - at)
            flag = _LAST_DATA_FRAGMENT if at + length == size else _DATA_FRAGMENT
            _HEADER.pack_into(
                headers, n * _HEADER.size, _P_DATA_TF, 0, length + 6, length + 2, context_id, flag
            )
            parts += ((headers, n * _HEADER.size, _HEADER.size), (data, at, length))
        _write(assoc, sock, parts, counted)
        start = stop
        done = (offset + start) // mmap.PAGESIZE * mmap.PAGESIZE
        if done > dropped:
            mm.madvise(mmap.MADV_DONTNEED, dropped, done - dropped)
            dropped = done


def _write(
    assoc: Association,
    sock: socket.socket,
    parts: list[tuple[memoryview, int, int]],
    written: Callable[[memoryview, int], None] | None = None,
) -> None:
    """``sock.sendmsg`` of the ``(view, start, length)`` slices ``parts``, in order, until
    all are written; TimeoutError when the peer takes none of them for
    ``assoc.network_timeout`` seconds. After each call, ``EVT_DATA_SENT`` (and
    ``written(view, length)``) once for each view: its slices taken are contiguous."""
    buffers = [view[start : start + length] for view, start, length in parts]
    first = 0
    while first < len(buffers):
        try:
            count = sock.sendmsg(buffers[first:], [], socket.MSG_DONTWAIT)
        except BlockingIOError:  # the peer is not reading: wait, as long as pynetdicom would
            _, ready, _ = select.select([], [sock], [], assoc.network_timeout)
            if not ready:
                raise TimeoutError("the peer took no data for the network timeout") from None
            continue
        taken: dict[int, list] = {}  # id(view): [view, start, length] taken by this call
        while count:
            view, start, length = parts[first]
            took = min(count, length)
            run = taken.setdefault(id(view), [view, start, 0])
            run[2] += took
            if took < length:
                parts[first] = (view, start + took, length - took)
                buffers[first] = buffers[first][took:]
            else:
                first += 1
            count -= took
        for view, start, length in taken.values():
            evt.trigger(assoc, evt.EVT_DATA_SENT, {"data": view[start : start + length]})
            if written is not None:
                written(view, length)
