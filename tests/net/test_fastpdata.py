"""The P-DATA fast path: files arrive byte for byte at real peers, in every syntax and at
every PDU size; a peer that aborts mid-way loses nothing; TLS goes by pynetdicom's path."""

from __future__ import annotations

import dataclasses
import inspect
import mmap
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
import pynetdicom
import pytest
from pynetdicom import AE, AllStoragePresentationContexts, evt, fsm
from pynetdicom.association import Association
from pynetdicom.dimse_messages import C_STORE_RQ
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import split_dataset
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu import P_DATA_TF
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.transport import AssociationSocket

from napari_ezp2p.core.convert import convert_images
from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.transfer import TRANSFER_SYNTAXES, transfer_syntax
from napari_ezp2p.net import fastpdata
from napari_ezp2p.net.destination import Destination
from napari_ezp2p.net.store import FAILURE, SUCCESS, store
from napari_ezp2p.net.transports import senders
from napari_ezp2p.outbox import FAILED, SENT, Outbox, send_due
from tests.conftest import start_storescp
from tests.net.helpers import SETTINGS
from tests.net.test_tls import tls_storescp  # noqa: F401 (a fixture)

ALL_SYNTAXES = [ts.key for ts in TRANSFER_SYNTAXES]
PDU_SIZES = (4096, 16384, 131072)


def _data_set(path: Path) -> bytes:
    _, offset = split_dataset(path)
    return path.read_bytes()[offset:]


def _file(folder: Path, ts: str, rows: int = 64, columns: int = 80) -> Path:
    """A Secondary Capture file in ``ts``: grey noise of ``rows`` x ``columns``."""
    pixels = np.random.default_rng(rows).integers(0, 256, (rows, columns), dtype=np.uint8)
    meta = Metadata(patient_name="Fast^Path", patient_id="P1")
    (ds,) = convert_images(
        [SourceImage.from_array(pixels)], meta, transfer_syntax(ts), datetime.now()
    )
    path = folder / f"{ts}-{rows}x{columns}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


class FastWrites(list):
    """The data set sizes the fast path wrote, in order, and the byte counts it gave."""

    counts: list[tuple[int, int]]
    max_pdus: set[int]  # the peer's maximum PDU length on each association


@pytest.fixture
def fast_writes(monkeypatch) -> FastWrites:
    written = FastWrites()
    written.counts, written.max_pdus = [], set()
    send = fastpdata.send_c_store

    def spy(assoc, primitive, context_id, path, offset, on_bytes=None):
        written.append(path.stat().st_size - offset)
        written.max_pdus.add(assoc.dimse.maximum_pdu_size)

        def counted(sent: int, size: int) -> None:
            written.counts.append((sent, size))
            on_bytes(sent, size)

        return send(assoc, primitive, context_id, path, offset, counted if on_bytes else None)

    monkeypatch.setattr(fastpdata, "send_c_store", spy)
    return written


def _assert_arrived_at_storescp(tmp_path, paths, max_pdu, fast_writes) -> None:
    scp = start_storescp(tmp_path / "storescp", extra=("+B", "--max-pdu", str(max_pdu)))
    try:
        report = store(paths, scp.destination, SETTINGS)
    finally:
        scp.peer.stop()
    assert report.ok, report.error
    assert fast_writes == [len(_data_set(path)) for path in paths]
    assert fast_writes.max_pdus == {max_pdu}
    received = {pydicom.dcmread(p).SOPInstanceUID: _data_set(p) for p in scp.received()}
    for path in paths:
        assert received[pydicom.dcmread(path).SOPInstanceUID] == _data_set(path)


def test_every_syntax_arrives_at_storescp_byte_for_byte(tmp_path, fast_writes):
    paths = [_file(tmp_path, ts) for ts in ALL_SYNTAXES]
    _assert_arrived_at_storescp(tmp_path, paths, 16384, fast_writes)


@pytest.mark.parametrize("max_pdu", PDU_SIZES)
def test_a_big_file_arrives_at_storescp_byte_for_byte_at_each_pdu_size(
    tmp_path, fast_writes, max_pdu
):
    paths = [_file(tmp_path, ts, 1100, 1000) for ts in ("explicit-le", "rle")]
    _assert_arrived_at_storescp(tmp_path, paths, max_pdu, fast_writes)


def _assert_arrived_at_orthanc(server, paths, max_pdu, fast_writes, folder: Path) -> None:
    report = store(paths, server.destination, SETTINGS)
    assert [o.category for o in report.outcomes] == [SUCCESS] * len(paths), report.error
    assert fast_writes == [len(_data_set(path)) for path in paths]
    assert fast_writes.max_pdus == {max_pdu}
    received = {}
    for n, instance in enumerate(server.rest("/instances")):
        stored = folder / f"orthanc-{n}.dcm"
        with urllib.request.urlopen(f"{server.http}/instances/{instance}/file") as response:
            stored.write_bytes(response.read())
        received[pydicom.dcmread(stored).SOPInstanceUID] = _data_set(stored)
    for path in paths:
        assert received[pydicom.dcmread(path).SOPInstanceUID] == _data_set(path)


def test_every_syntax_arrives_at_orthanc_byte_for_byte(orthanc, tmp_path, fast_writes):
    paths = [_file(tmp_path, ts) for ts in ALL_SYNTAXES]
    _assert_arrived_at_orthanc(orthanc(MaximumPduLength=4096), paths, 4096, fast_writes, tmp_path)


@pytest.mark.parametrize("max_pdu", PDU_SIZES)
def test_a_big_file_arrives_at_orthanc_byte_for_byte_at_each_pdu_size(
    orthanc, tmp_path, fast_writes, max_pdu
):
    paths = [_file(tmp_path, ts, 1100, 1000) for ts in ("explicit-le", "jpeg-ls")]
    _assert_arrived_at_orthanc(
        orthanc(MaximumPduLength=max_pdu), paths, max_pdu, fast_writes, tmp_path
    )


def test_the_bytes_counted_end_at_the_data_set_size(storescp, tmp_path, fast_writes):
    path = _file(tmp_path, "explicit-le", 4000, 4000)  # 16 MB: 4 sendmsg calls at least
    counts: list[tuple[str, int, int]] = []
    report = store([path], storescp.destination, SETTINGS, on_bytes=lambda *c: counts.append(c))
    assert report.ok, report.error
    size = len(_data_set(path))
    assert fast_writes == [size]
    uid = pydicom.dcmread(path).SOPInstanceUID
    assert counts[0] == (uid, 0, size) and counts[-1] == (uid, size, size)
    sent = [count[1] for count in counts]
    assert sent == sorted(sent)
    # unthrottled, as the PDUs are written: one count per sendmsg call
    written = [count for count, _ in fast_writes.counts]
    assert written[0] == 0 and written[-1] == size and len(written) > 4
    assert all(a < b for a, b in zip(written, written[1:], strict=False))
    assert report.bytes_sent > size  # every byte written: the command set and headers too


@contextmanager
def _pynetdicom_scp(max_pdu: int, abort: bool = False, stall: bool = False) -> Iterator[dict]:
    """A Storage SCP of maximum PDU ``max_pdu`` that, while ``state["abort"]``, aborts each
    association once its second P-DATA-TF PDU came in (in the middle of a data set); with
    ``stall``, it stops reading there until ``state["resume"]`` is set (at the end)."""
    resume = threading.Event()
    state = {"abort": abort, "aborted": 0, "stored": [], "resume": resume}
    ae = AE("PYSCP")
    ae.maximum_pdu_size = max_pdu
    for cx in AllStoragePresentationContexts[:120]:
        ae.add_supported_context(cx.abstract_syntax)
    seen: dict[int, int] = {}

    def on_pdu(event):
        if isinstance(event.pdu, P_DATA_TF) and state["abort"]:
            seen[id(event.assoc)] = count = seen.get(id(event.assoc), 0) + 1
            if count == 2:
                state["aborted"] += 1
                threading.Thread(target=event.assoc.abort).start()
        if isinstance(event.pdu, P_DATA_TF) and stall:
            resume.wait(20)  # its connection thread reads nothing meanwhile

    def on_store(event):
        state["stored"].append(event.dataset.SOPInstanceUID)
        return 0

    handlers = [(evt.EVT_PDU_RECV, on_pdu), (evt.EVT_C_STORE, on_store)]
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
    port = server.server_address[1]
    state["destination"] = Destination("pyscp", "PYSCP", "127.0.0.1", port)
    try:
        yield state
    finally:
        resume.set()
        server.shutdown()


@pytest.fixture
def aborting_scp():
    with _pynetdicom_scp(4096, abort=True) as state:
        yield state


@pytest.mark.parametrize("max_pdu", [0, 1000])
def test_a_peer_max_pdu_of_0_or_under_1_kb_goes_by_pynetdicoms_path(
    tmp_path, fast_writes, max_pdu
):
    path = _file(tmp_path, "explicit-le")
    with _pynetdicom_scp(max_pdu) as scp:
        report = store([path], scp["destination"], SETTINGS)
    assert report.ok, report.error
    assert fast_writes == [] and scp["stored"] == [pydicom.dcmread(path).SOPInstanceUID]


def test_a_peer_aborting_mid_data_set_fails_the_entry_and_a_retry_sends_it(
    aborting_scp, tmp_path, fast_writes
):
    ds = pydicom.dcmread(_file(tmp_path, "explicit-le", 4000, 4000))  # 16 MB: 4000 PDUs
    with Outbox(tmp_path / "outbox") as outbox:
        outbox.add([ds], [aborting_scp["destination"]])
        (entry,) = outbox.list()
        before = entry.path.read_bytes()
        send_due(outbox, senders(SETTINGS))
        (entry,) = outbox.list()
        assert aborting_scp["aborted"] == 1 and aborting_scp["stored"] == []
        assert entry.state == FAILED and entry.last_message
        assert entry.path.read_bytes() == before
        aborting_scp["abort"] = False
        assert outbox.retry() == 1
        assert send_due(outbox, senders(SETTINGS)).ok
        (entry,) = outbox.list()
        assert entry.state == SENT
    assert aborting_scp["stored"] == [ds.SOPInstanceUID]
    assert fast_writes == [len(before) - split_dataset(entry.path)[1]] * 2


def test_a_peer_that_stops_reading_fails_the_object_after_the_network_timeout(
    tmp_path, fast_writes
):
    path = _file(tmp_path, "explicit-le", 4000, 4000)  # 16 MB: more than the socket buffers
    settings = dataclasses.replace(SETTINGS, network_timeout=1)
    with _pynetdicom_scp(16384, stall=True) as scp:
        start = time.monotonic()
        report = store([path], scp["destination"], settings)
        elapsed = time.monotonic() - start
    assert [o.category for o in report.outcomes] == [FAILURE], report.error
    assert fast_writes == [len(_data_set(path))]
    assert elapsed < 10  # not held until the peer reads again (20 s)


def test_a_file_over_tls_goes_by_pynetdicoms_path(tls_storescp, tmp_path, fast_writes):  # noqa: F811
    dest, scp, _ = tls_storescp
    path = _file(tmp_path, "explicit-le", 1100, 1000)
    report = store([path], dest, SETTINGS)
    assert report.ok, report.error
    assert fast_writes == []
    (received,) = scp.received()
    assert _data_set(received) == _data_set(path)


def test_the_pynetdicom_internals_the_fast_path_relies_on():
    """See fastpdata's docstring: this fails when pynetdicom changes them."""
    assert pynetdicom.__version__.startswith("3.0.")
    ae = AE()
    assoc = Association(ae, "requestor")
    dul = assoc.dul
    assert isinstance(dul, DULServiceProvider)
    assert dul.state_machine.current_state == "Sta1"
    assert dul.to_provider_queue.empty() and dul.event_queue.empty()
    assert list(inspect.signature(AssociationSocket.send).parameters) == ["self", "bytestream"]
    assert inspect.signature(AssociationSocket.__init__).parameters["client_socket"]
    plain = socket.socket()
    try:
        peer = AssociationSocket(assoc, client_socket=plain)
        assert peer.socket is plain and peer.event_queue is dul.event_queue
        assert dul.event_queue.get_nowait() == "Evt5"
        # The DUL writes only through AssociationSocket.send: the state machine's actions
        # call dul._send; it, and the reactor's own A-ABORT, call self.socket.send
        assert set(re.findall(r"\.\w*send\w*\(", inspect.getsource(fsm))) == {"._send("}
        dul_writes = re.findall(r"[\w.]*\.\w*send\w*\(", inspect.getsource(DULServiceProvider))
        assert set(dul_writes) == {"self.socket.send("}
        # A failed send puts Evt17 on the event queue
        peer.send(b"\x00")  # not connected: the write fails
        assert dul.event_queue.get_nowait() == "Evt17"
        shadow = []
        peer.send = shadow.append
        peer.send(b"x")
        del peer.send
        assert shadow == [b"x"] and peer.send.__func__ is AssociationSocket.send
    finally:
        plain.close()
    assert inspect.getsource(AssociationSocket.send).count("self.socket.send(") == 1

    assert isinstance(type(assoc.dimse).maximum_pdu_size, property)
    assert isinstance(Association.network_timeout, property)
    assert assoc.is_established is False  # an attribute, True while established
    primitive = C_STORE()
    primitive.MessageID, primitive.Priority = 1, 2
    primitive.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    primitive.AffectedSOPInstanceUID = "1.2.3.4"
    primitive.DataSet, primitive._dataset_path = None, (Path("no such file"), 0)
    message = C_STORE_RQ()
    message.primitive_to_message(primitive)
    assert message.command_set.CommandDataSetType == 0x0001  # a data set follows
    messages = message.encode_msg(3, 16384)
    pdata = next(messages)  # the command set, in one PDV, before the file is opened
    assert isinstance(pdata, P_DATA)
    ((context_id, value),) = pdata.presentation_data_value_list
    assert (context_id, value[0]) == (3, fastpdata._LAST_COMMAND_FRAGMENT)
    with pytest.raises(FileNotFoundError):
        next(messages)  # only now is the data set read
    pdu = P_DATA_TF()
    pdu.from_primitive(pdata)
    assert pdu.encode()[:1] == b"\x04"
    for name in ("EVT_DIMSE_SENT", "EVT_PDU_SENT", "EVT_DATA_SENT"):
        assert getattr(evt, name).is_notification


def test_a_data_pdu_is_written_as_pynetdicom_encodes_it():
    """fastpdata's own header: the same bytes as pynetdicom's P-DATA-TF of that PDV."""
    pdata = P_DATA()
    pdata.presentation_data_value_list.append((5, b"\x02" + b"ab" * 10))
    pdu = P_DATA_TF()
    pdu.from_primitive(pdata)
    header = fastpdata._HEADER.pack(0x04, 0, 26, 22, 5, 0b10)
    assert pdu.encode() == header + b"ab" * 10


def test_partial_writes_still_make_whole_pdus_as_pynetdicom_decodes_them(tmp_path):
    """A socket buffer far smaller than a batch: every sendmsg call stops mid-buffer."""
    data = np.random.default_rng(7).integers(0, 256, 300_001 * 2, dtype=np.uint8).tobytes()
    path = tmp_path / "raw"
    path.write_bytes(b"HEAD" + data)
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    received = bytearray()

    def read() -> None:
        while chunk := theirs.recv(1000):
            received.extend(chunk)
            time.sleep(0.0005)

    reader = threading.Thread(target=read)
    reader.start()
    counts: list[tuple[int, int]] = []
    assoc = Association(AE(), "requestor")
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        fastpdata._write_data_set(assoc, ours, mm, 4, 7, 4096, lambda *c: counts.append(c))
    ours.close()
    reader.join()
    theirs.close()
    values, at = [], 0
    while at < len(received):
        length = int.from_bytes(received[at + 2 : at + 6], "big")
        pdu = P_DATA_TF()
        pdu.decode(bytes(received[at : at + 6 + length]))
        assert len(pdu.encode()) <= 4096 + 6
        values += pdu.to_primitive().presentation_data_value_list
        at += 6 + length
    headers = [(context_id, value[0]) for context_id, value in values]
    assert headers == [(7, 0)] * (len(values) - 1) + [(7, 0b10)]
    assert b"".join(value[1:] for _, value in values) == data
    assert counts[0] == (0, len(data)) and counts[-1] == (len(data), len(data))
    assert len(counts) > 10  # one per sendmsg call


def test_the_dul_given_work_meanwhile_leaves_the_file_to_pynetdicoms_path(
    storescp, tmp_path, monkeypatch
):
    answers = iter([True, False])  # idle when chosen, busy once its writes wait on us
    monkeypatch.setattr(fastpdata, "_idle", lambda assoc: next(answers))
    written: list[bytes] = []
    monkeypatch.setattr(fastpdata, "_write", lambda *args, **kwargs: written.append(b""))
    path = _file(tmp_path, "explicit-le", 1100, 1000)
    report = store([path], storescp.destination, SETTINGS)
    assert report.ok, report.error
    assert written == []  # nothing by the fast path
    (received,) = storescp.received()
    assert _data_set(received) == _data_set(path)
