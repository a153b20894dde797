"""The runner against a real pynetdicom Storage SCP on 127.0.0.1, with the real SCU
(:func:`napari_ezp2p.net.store.store`) and a real outbox on disk."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pydicom
import pytest
from pynetdicom import AE, StoragePresentationContexts, evt

from napari_ezp2p.net.destination import Destination, NetworkSettings
from napari_ezp2p.net.transports import senders
from napari_ezp2p.outbox import (
    FAILED,
    REJECTED,
    SENDING,
    SENT,
    Outbox,
    send_due,
)
from tests.outbox.test_queue import make_datasets

SETTINGS = NetworkSettings(acse_timeout=5, dimse_timeout=10, network_timeout=10)


def free_port() -> int:
    """A port nothing listens on (bound once by us, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StorageSCP:
    """A Storage SCP on 127.0.0.1 that records the SOP Instance UIDs it receives, in
    order, and answers ``fail[uid]`` instead of Success for the UIDs in ``fail``."""

    def __init__(self, port: int = 0, ae_title: str = "STORESCP") -> None:
        self.received: list[str] = []
        self.fail: dict[str, int] = {}
        self.hold: dict[str, threading.Event] = {}  # keep the PACS busy on these
        self.arrived = threading.Event()  # one of them came in
        ae = AE(ae_title)
        ae.supported_contexts = StoragePresentationContexts
        self.server = ae.start_server(
            ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, self._store)]
        )
        self.port = self.server.server_address[1]
        self.ae_title = ae_title

    def _store(self, event: evt.Event) -> int:
        uid = str(event.request.AffectedSOPInstanceUID)
        held = self.hold.get(uid)
        if held is not None:  # the sender is killed meanwhile: this answer goes nowhere
            self.arrived.set()
            held.wait(30)
            return 0xA700
        if uid in self.fail:
            return self.fail[uid]
        ds = event.dataset
        ds.file_meta = event.file_meta
        assert ds.SOPInstanceUID == uid
        self.received.append(uid)
        return 0x0000

    def destination(self, name: str = "pacs") -> Destination:
        return Destination(name, self.ae_title, "127.0.0.1", self.port)

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def scp():
    server = StorageSCP()
    yield server
    server.stop()


@pytest.fixture
def outbox(tmp_path):
    with Outbox(tmp_path / "outbox") as box:
        yield box


def uids_of(datasets) -> list[str]:
    return [str(ds.SOPInstanceUID) for ds in datasets]


def test_send_to_a_live_scp_then_purge(outbox, scp):
    datasets = make_datasets(3)
    ids = outbox.add(datasets, [scp.destination()])
    progress: list[tuple[str, int, int]] = []

    summary = send_due(outbox, senders(SETTINGS), progress=lambda *p: progress.append(p))

    assert summary.ok and summary.sent == 3 and summary.failed == 0
    assert summary.destinations["pacs"].address == f"STORESCP@127.0.0.1:{scp.port}"
    assert scp.received == uids_of(datasets)
    entries = outbox.list()
    assert [e.id for e in entries] == ids
    for entry in entries:
        assert (entry.state, entry.last_status, entry.attempts) == (SENT, 0, 1)
        assert entry.transfer_syntax == pydicom.uid.ExplicitVRLittleEndian
        assert entry.next_attempt is None
    assert progress[0] == ("pacs", 0, 3) and progress[-1] == ("pacs", 3, 3)
    assert send_due(outbox, senders(SETTINGS)).destinations == {}  # nothing left due

    files = [e.path for e in entries]
    assert all(path.exists() for path in files)
    assert outbox.purge() == 3
    assert outbox.list() == [] and not any(path.exists() for path in files)


def test_scp_down_then_retry_sends_the_same_instances(outbox):
    port = free_port()
    dest = Destination("pacs", "STORESCP", "127.0.0.1", port)
    datasets = make_datasets(3)
    outbox.add(datasets, [dest])
    before = time.time()

    summary = send_due(outbox, senders(SETTINGS))

    run = summary.destinations["pacs"]
    assert (run.sent, run.failed, summary.ok) == (0, 3, False)
    assert "connection refused" in run.error
    for entry in outbox.list():
        assert entry.state == FAILED
        assert entry.attempts == 1
        assert "connection refused" in entry.last_message
        assert entry.next_attempt >= before + 30
        assert entry.path.exists()
    assert {f.reason for f in run.failures} == {run.error}

    scp = StorageSCP(port)
    try:
        assert send_due(outbox, senders(SETTINGS)).destinations == {}  # backing off
        assert outbox.retry() == 3
        summary = send_due(outbox, senders(SETTINGS))
        assert summary.ok and summary.sent == 3
        assert scp.received == uids_of(datasets)  # the SAME SOP Instance UIDs
        assert [e.state for e in outbox.list()] == [SENT] * 3
        assert [e.attempts for e in outbox.list()] == [2] * 3
    finally:
        scp.stop()


def test_failure_status_on_instance_two_of_four(outbox, scp):
    datasets = make_datasets(4)
    uids = uids_of(datasets)
    ids = outbox.add(datasets, [scp.destination()])
    scp.fail[uids[1]] = 0xA700  # Out of Resources: worth another attempt

    summary = send_due(outbox, senders(SETTINGS))

    run = summary.destinations["pacs"]
    assert (run.sent, run.failed, run.rejected, run.not_sent) == (3, 1, 0, 0)
    first, second, third, fourth = outbox.list()
    assert (second.state, second.last_status, second.attempts) == (FAILED, 0xA700, 1)
    assert "0xA700" in second.last_message
    assert second.next_attempt > time.time()  # retried after a backoff, not in a loop
    for entry in (first, third, fourth):  # the rest went over a fresh association
        assert (entry.state, entry.last_status) == (SENT, 0)
    assert [f.entry_id for f in run.failures] == ids[1:2]
    assert scp.received == uids[:1] + uids[2:]

    # The next run, once due, sends it: nothing was lost.
    scp.fail.clear()
    summary = send_due(outbox, senders(SETTINGS), now=time.time() + 3600)
    assert summary.ok and summary.sent == 1
    assert scp.received == uids[:1] + uids[2:] + uids[1:2]
    assert [e.state for e in outbox.list()] == [SENT] * 4


def test_a_refusal_for_good_is_rejected_and_never_retried_by_itself(outbox, scp):
    datasets = make_datasets(3)
    uids = uids_of(datasets)
    ids = outbox.add(datasets, [scp.destination()])
    scp.fail[uids[0]] = 0xC000  # Cannot Understand

    summary = send_due(outbox, senders(SETTINGS))

    run = summary.destinations["pacs"]
    assert (run.sent, run.failed, run.rejected, summary.rejected, run.ok) == (2, 0, 1, 1, False)
    assert [(f.entry_id, f.category, f.status) for f in run.failures] == [
        (ids[0], REJECTED, 0xC000)
    ]
    entry = outbox.get(ids[0])
    assert (entry.state, entry.last_status, entry.next_attempt) == (REJECTED, 0xC000, None)
    assert "0xC000 Cannot Understand" in entry.last_message
    assert scp.received == uids[1:]

    scp.fail.clear()
    assert send_due(outbox, senders(SETTINGS), now=time.time() + 86400).destinations == {}
    assert outbox.retry() == 0
    assert outbox.retry(rejected=True) == 1
    assert send_due(outbox, senders(SETTINGS)).sent == 1
    assert scp.received == uids[1:] + uids[:1]


SEND_DUE = textwrap.dedent(
    """
    import sys
    from napari_ezp2p.net.destination import NetworkSettings
    from napari_ezp2p.net.transports import senders
    from napari_ezp2p.outbox import Outbox, send_due

    with Outbox(sys.argv[1]) as outbox:
        send_due(outbox, senders(NetworkSettings(dimse_timeout=120, network_timeout=120)))
    """
)


def test_a_sender_killed_mid_study_loses_nothing(outbox, scp):
    """SIGKILL while the PACS is busy with instance 2 of 3: #1 is already recorded sent,
    #2 and #3 are left ``sending``; the next run takes them back and sends just those."""
    datasets = make_datasets(3)
    uids = uids_of(datasets)
    ids = outbox.add(datasets, [scp.destination()])
    scp.hold[uids[1]] = threading.Event()
    child = subprocess.Popen([sys.executable, "-c", SEND_DUE, str(outbox.folder)])
    try:
        assert scp.arrived.wait(60), "the child never sent instance 2"
        entries = outbox.list()
        assert [e.state for e in entries] == [SENT, SENDING, SENDING]
        assert {e.owner.split(":")[-2] for e in entries[1:]} == {str(child.pid)}
        # While the owner lives, nobody else touches its rows.
        assert send_due(outbox, senders(SETTINGS)).destinations == {}
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        child.kill()
        child.wait()
        scp.hold.pop(uids[1]).set()

    summary = send_due(outbox, senders(SETTINGS))

    assert summary.recovered == ids[1:]
    assert summary.ok and summary.sent == 2
    assert scp.received == uids  # #1 once, then #2 and #3 with their own UIDs
    assert [e.state for e in outbox.list()] == [SENT] * 3
    assert [e.attempts for e in outbox.list()] == [1, 2, 2]


def test_two_destinations_each_get_their_copy_and_one_down_does_not_stop_the_other(outbox):
    live = [StorageSCP(ae_title="PACS_A"), StorageSCP(ae_title="PACS_B")]
    try:
        down = Destination("down", "PACS_C", "127.0.0.1", free_port())
        dests = [live[0].destination("a"), live[1].destination("b"), down]
        datasets = make_datasets(3)
        outbox.add(datasets, dests)
        assert len(list((outbox.folder / "instances").glob("*.dcm"))) == 3

        summary = send_due(outbox, senders(SETTINGS))

        assert set(summary.destinations) == {"a", "b", "down"}
        assert summary.destinations["a"].sent == summary.destinations["b"].sent == 3
        assert summary.destinations["down"].failed == 3
        assert live[0].received == live[1].received == uids_of(datasets)
        counts = outbox.summary()
        assert counts["a"][SENT] == counts["b"][SENT] == 3
        assert counts["down"][FAILED] == 3

        # Sent rows purged: the files stay for the destination still waiting.
        assert outbox.purge() == 6
        assert all(e.path.exists() for e in outbox.list(destination="down"))

        # Only the chosen destinations are sent to.
        outbox.retry()
        assert set(send_due(outbox, senders(SETTINGS), destinations=["a"]).destinations) == set()
    finally:
        for server in live:
            server.stop()


def test_each_instance_is_recorded_sent_as_soon_as_the_pacs_has_it(outbox, scp):
    ids = outbox.add(make_datasets(3), [scp.destination()])
    seen: dict[int, list[str]] = {}

    def look(name, done, total):  # a crash here would resend only what is not yet sent
        seen[done] = [e.state for e in outbox.list()]

    send_due(outbox, senders(SETTINGS), progress=look)

    assert seen[0] == [SENDING] * 3
    assert seen[1] == [SENT, SENDING, SENDING]
    assert seen[2] == [SENT, SENT, SENDING]
    assert seen[3] == [SENT] * 3
    assert [e.id for e in outbox.list(states=[SENT])] == ids


def test_an_exception_from_the_sender_fails_the_batch_and_keeps_the_files(outbox, scp):
    outbox.add(make_datasets(2), [scp.destination()])

    def broken(paths, destination, *, progress=None):
        raise OSError("disk unplugged")

    summary = send_due(outbox, lambda destination: broken)

    assert summary.destinations["pacs"].error == "OSError: disk unplugged"
    assert [(e.state, e.attempts) for e in outbox.list()] == [(FAILED, 1)] * 2
    assert all(e.path.exists() for e in outbox.list())
    assert outbox.retry() == 2
    assert send_due(outbox, senders(SETTINGS)).sent == 2


def test_a_missing_file_fails_its_row_only(outbox, scp):
    datasets = make_datasets(2)
    outbox.add(datasets, [scp.destination()])
    outbox.list()[0].path.unlink()

    summary = send_due(outbox, senders(SETTINGS))

    run = summary.destinations["pacs"]
    assert (run.sent, run.rejected) == (1, 1)  # it cannot come back: not retried forever
    assert run.failures[0].reason == "the outbox file is missing"
    assert outbox.list()[0].state == REJECTED
    assert scp.received == uids_of(datasets)[1:]


ADD_AND_SEND = textwrap.dedent(
    """
    import sys
    from napari_ezp2p.net.destination import Destination, NetworkSettings
    from napari_ezp2p.net.transports import senders
    from napari_ezp2p.outbox import Outbox, send_due
    from tests.outbox.test_queue import make_datasets

    dest = Destination("pacs", "STORESCP", "127.0.0.1", int(sys.argv[2]))
    send = senders(NetworkSettings(acse_timeout=5, dimse_timeout=10, network_timeout=10))
    with Outbox(sys.argv[1]) as outbox:
        for ds in make_datasets(5, patient="CHILD^PROCESS"):
            outbox.add([ds], [dest])
            send_due(outbox, send)
            print(ds.SOPInstanceUID, flush=True)
    """
)


def test_two_processes_share_one_outbox(outbox, scp):
    """A CLI and a napari session: both add and send at once; every instance is sent
    exactly once."""
    ours = make_datasets(5)
    child = subprocess.Popen(
        [sys.executable, "-c", ADD_AND_SEND, str(outbox.folder), str(scp.port)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )
    try:
        for ds in ours:
            outbox.add([ds], [scp.destination()])
            send_due(outbox, senders(SETTINGS))
        while child.poll() is None:  # keep competing for the child's rows
            send_due(outbox, senders(SETTINGS))
            time.sleep(0.05)
        theirs = child.stdout.read().split()
        assert child.wait(timeout=60) == 0
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    send_due(outbox, senders(SETTINGS))

    assert len(theirs) == 5
    assert sorted(scp.received) == sorted(uids_of(ours) + theirs)  # no loss, no duplicate
    assert outbox.summary()["pacs"][SENT] == 10


def test_a_long_send_keeps_its_claim_alive(tmp_path, scp):
    with Outbox(tmp_path, stale_after=4) as outbox:  # heartbeat every second
        (entry_id,) = outbox.add(make_datasets(1), [scp.destination()])

        def slow(paths, destination, *, progress=None):
            claimed = outbox.get(entry_id).updated
            time.sleep(1.5)
            assert outbox.get(entry_id).updated > claimed  # the heartbeat refreshed it
            with Outbox(tmp_path, stale_after=4) as other:
                assert other.recover(now=time.time() + 3) == []  # so it is not stale
            return senders(SETTINGS)(destination)(paths, destination, progress=progress)

        summary = send_due(outbox, lambda destination: slow)
        assert summary.ok and summary.sent == 1
