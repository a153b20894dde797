"""Our associations: identity, TCP_NODELAY, pynetdicom's log, the response guard, C-ECHO,
and a message of its own for each way an association fails."""

from __future__ import annotations

import copy
import dataclasses
import logging
import socket
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import _config, evt
from pynetdicom._handlers import standard_pdu_sent_handler
from pynetdicom.dimse_primitives import C_ECHO
from pynetdicom.pdu import A_ABORT_RQ
from pynetdicom.sop_class import Verification

from napari_ezp2p.core.convert import convert_images
from napari_ezp2p.core.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.transfer import transfer_syntax
from napari_ezp2p.net.association import Session, contexts_for, echo, release
from napari_ezp2p.net.destination import Destination
from napari_ezp2p.net.query import find_studies, find_worklist
from napari_ezp2p.net.store import store
from tests.conftest import OUR_AE, free_port, start_storescp
from tests.net.helpers import SETTINGS, fake_scp, sc_objects
from tests.net.trickle import trickling_peer

# ---------------------------------------------------------------------------------------
# Verification


def test_echo_storescp(storescp):
    result = echo(storescp.destination, SETTINGS)
    assert result.ok, result.error
    assert result.status == 0
    assert 0 < result.seconds < 2


def test_echo_closed_port_says_connection_refused():
    dest = Destination("nobody", "NOBODY", "127.0.0.1", free_port())
    result = echo(dest, SETTINGS)
    assert not result.ok
    assert result.status is None
    assert "connection refused" in result.error
    assert dest.address in result.error


def test_echo_wrong_called_ae_is_rejected_with_reason(orthanc):
    server = orthanc(DicomCheckCalledAet=True)
    dest = dataclasses.replace(server.destination, ae_title="NOT-ORTHANC")
    result = echo(dest, SETTINGS)
    assert not result.ok
    assert "rejected the association permanently" in result.error
    assert "called ae title not recognised" in result.error


def test_every_association_carries_our_implementation_identity():
    with fake_scp() as scp:
        # the destination's max PDU is what we announce on associations with it
        dest = dataclasses.replace(scp.destination, max_pdu=32768)
        assert echo(dest, SETTINGS).ok
        assert store(sc_objects(1), dest, SETTINGS).ok
        find_studies({}, dest, SETTINGS)
        find_worklist({}, dest, SETTINGS)
    assert len(scp.requests) == 4
    for request in scp.requests:
        assert request["implementation_class_uid"] == IMPLEMENTATION_CLASS_UID
        assert request["implementation_version_name"] == IMPLEMENTATION_VERSION_NAME
        assert request["ae_title"] == OUR_AE
        assert request["max_pdu"] == 32768


def test_our_socket_has_tcp_nodelay(storescp, monkeypatch):
    seen = []
    original = Session._conn_open

    def conn_open(self, event):
        original(self, event)
        sock = event.assoc.dul.socket.socket
        seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    monkeypatch.setattr(Session, "_conn_open", conn_open)
    assert echo(storescp.destination, SETTINGS).ok
    assert seen and seen[0] != 0


@pytest.mark.parametrize("level", [logging.WARNING, logging.INFO])
def test_pynetdicom_describes_the_traffic_only_when_its_log_is_read(
    storescp, monkeypatch, caplog, level
):
    caplog.set_level(level, logger="pynetdicom")
    bound = []
    original = Session._conn_open

    def conn_open(self, event):
        original(self, event)
        bound.extend(handler for handler, _ in event.assoc.get_handlers(evt.EVT_PDU_SENT))

    monkeypatch.setattr(Session, "_conn_open", conn_open)
    assert echo(storescp.destination, SETTINGS).ok
    logged = level == logging.INFO
    assert (standard_pdu_sent_handler in bound) is logged
    assert ("Received Echo Response" in caplog.text) is logged


def _pynetdicom_settings() -> dict:
    return {name: copy.copy(value) for name, value in vars(_config).items() if name.isupper()}


def test_pynetdicom_settings_are_left_as_they_are(tmp_path, monkeypatch):
    # pynetdicom's defaults for the two we once changed: they belong to the whole process
    monkeypatch.setattr(_config, "LOG_HANDLER_LEVEL", "standard")
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", False)
    before = _pynetdicom_settings()
    paths = [tmp_path / "explicit.dcm", tmp_path / "jpeg-ls.dcm"]
    for path, ts in zip(paths, ["explicit-le", "jpeg-ls"], strict=True):
        sc_objects(1, ts)[0].save_as(path, enforce_file_format=True)
    with fake_scp() as scp:  # pynetdicom's default syntaxes: the JPEG-LS file is transcoded
        assert echo(scp.destination, SETTINGS).ok
        report = store([*paths, *sc_objects(1)], scp.destination, SETTINGS)
        find_studies({}, scp.destination, SETTINGS)
        find_worklist({}, scp.destination, SETTINGS)
    assert report.ok, report.error
    assert [o.transfer_syntax for o in report.outcomes] == [ExplicitVRLittleEndian] * 3
    assert _pynetdicom_settings() == before


def test_only_the_caller_takes_the_responses_of_its_requests(storescp):
    # pynetdicom's association thread looks for requests to serve every millisecond, and
    # a gap in its pause around our requests let it take a response (seen under load).
    session = Session(storescp.destination, SETTINGS)
    assoc = session.open(contexts_for(Verification, [ExplicitVRLittleEndian]))
    try:
        response = C_ECHO()
        response.MessageIDBeingRespondedTo = 1
        response.Status = 0x0000
        assoc.dimse.msg_queue.put((1, response))
        time.sleep(0.2)  # some 200 turns of the association thread
        assert assoc.is_established
        assert assoc.dimse.get_msg(block=False) == (1, response)
    finally:
        release(assoc)


# ---------------------------------------------------------------------------------------
# Association failures, each with its own message


def test_unknown_host_is_named():
    dest = Destination("nowhere", "NOWHERE", "no-such-host.invalid", 104)
    result = echo(dest, SETTINGS)
    assert not result.ok
    assert "unknown host 'no-such-host.invalid'" in result.error


@pytest.fixture
def silent_listener():
    """A TCP port that accepts connections and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    yield server
    server.close()


def test_silent_peer_is_an_association_timeout(silent_listener):
    port = silent_listener.getsockname()[1]
    dest = Destination("silent", "SILENT", "127.0.0.1", port)
    settings = dataclasses.replace(SETTINGS, acse_timeout=0.5)
    start = time.perf_counter()
    report = store(sc_objects(1), dest, settings)
    assert time.perf_counter() - start < 3
    assert "did not answer the association request within 0.5 s" in report.error
    assert [o.category for o in report.outcomes] == ["not sent"]


def test_peer_closing_the_connection_is_named():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def close_at_once():
        connection, _ = server.accept()
        connection.close()

    thread = threading.Thread(target=close_at_once)
    thread.start()
    try:
        result = echo(Destination("closer", "CLOSER", "127.0.0.1", port), SETTINGS)
    finally:
        thread.join(5)
        server.close()
    assert not result.ok
    assert "closed the connection during the association request" in result.error


def test_abort_during_store_is_reported(tmp_path):
    scp = start_storescp(tmp_path / "aborting", extra=["--abort-during"])
    try:
        report = store(sc_objects(2), scp.destination, SETTINGS)
    finally:
        scp.peer.stop()
    # each object over an association of its own, which storescp aborts
    assert [o.category for o in report.outcomes] == ["failure", "failure"]
    for outcome in report.outcomes:
        assert outcome.message == (
            f"storescp ({scp.destination.address}) aborted the association while receiving "
            f"{outcome.sop_instance_uid} (A-ABORT, source: DUL service-user); the first "
            f"request of the association: does it know our AE title '{OUR_AE}'?"
        )


def test_an_abort_after_a_stored_object_names_the_object_not_our_ae_title(storescp, tmp_path):
    # storescp aborts on a data set fragment of odd length (a file with one byte too many)
    good, bad = tmp_path / "good.dcm", tmp_path / "odd.dcm"
    first, second = sc_objects(2)
    first.save_as(good, enforce_file_format=True)
    second.save_as(bad, enforce_file_format=True)
    bad.write_bytes(bad.read_bytes() + b"\x00")
    report = store([good, bad], storescp.destination, SETTINGS)
    assert [o.category for o in report.outcomes] == ["success", "failure"]
    assert report.outcomes[1].message == (
        f"storescp ({storescp.destination.address}) aborted the association while "
        f"receiving {second.SOPInstanceUID} (A-ABORT, source: DUL service-user)"
    )
    assert len(storescp.received()) == 1


def test_orthanc_refusing_us_while_a_large_object_is_sent_names_our_ae_title(orthanc):
    # Orthanc aborts at the command set: the connection is gone while data is still sent
    server = orthanc(DicomModalities={}, DicomAlwaysAllowStore=False)
    pixels = np.random.default_rng(1).integers(0, 255, (2000, 2000), dtype=np.uint8)
    images = [SourceImage.from_array(pixels)]
    (large,) = convert_images(images, Metadata(patient_id="P1"), transfer_syntax("explicit-le"))
    report = store([large], server.destination, SETTINGS)
    message = report.outcomes[0].message
    assert f"aborted the association while receiving {large.SOPInstanceUID} (" in message
    assert f"does it know our AE title '{OUR_AE}'?" in message


@pytest.mark.parametrize(
    "source, reason, described",
    [
        (0, 0, "A-ABORT, source: DUL service-user"),
        (2, 0, "A-ABORT, source: DUL service-provider, reason: No reason given"),
        (2, 1, "A-ABORT, source: DUL service-provider, reason: Unrecognised PDU"),
        (2, 6, "A-ABORT, source: DUL service-provider, reason: Invalid PDU parameter value"),
        (2, 9, "A-ABORT, source: DUL service-provider, reason: (no value available)"),
        (1, 0, "A-ABORT, source: Reserved"),
    ],
)
def test_an_a_abort_says_who_aborted_and_why(source, reason, described):
    pdu = A_ABORT_RQ()
    pdu.source, pdu.reason_diagnostic = source, reason
    session = Session(Destination("peer", "PEER", "127.0.0.1", 104), SETTINGS)
    session._pdu_recv(SimpleNamespace(pdu=pdu))
    assert session.peer_abort == described


def test_a_peer_trickling_its_association_answer_is_an_association_timeout():
    # a valid A-ASSOCIATE-AC, a byte a second: the ACSE timeout bounds the whole wait
    settings = dataclasses.replace(SETTINGS, acse_timeout=3)
    with trickling_peer() as dest:
        start = time.perf_counter()
        result = echo(dest, settings)
        echo_seconds = time.perf_counter() - start
        start = time.perf_counter()
        report = store(sc_objects(1), dest, settings)
        store_seconds = time.perf_counter() - start
    assert not result.ok
    assert "did not answer the association request within 3 s" in result.error
    assert echo_seconds < 6
    assert "did not answer the association request within 3 s" in report.error
    assert [o.category for o in report.outcomes] == ["not sent"]
    assert store_seconds < 6
