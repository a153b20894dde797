"""The transport seam: the runner hands each destination's entries to the sender of
the destination's kind; a new kind is a sender factory, nothing in the runner."""

from __future__ import annotations

import dataclasses
import shutil

from napari_ezp2p.net import transports
from napari_ezp2p.net.destination import Destination
from napari_ezp2p.outbox import FAILED, SENT, Outbox, SendOutcome, send_due
from tests.net.helpers import SETTINGS
from tests.outbox.test_queue import make_datasets


def _folder_transport(target):
    """A transport of the test's own: "sending" copies each file into ``target``."""

    def factory(settings):
        def send(entries, destination, *, progress=None):
            outcomes = []
            for done, entry in enumerate(entries, start=1):
                shutil.copy(entry.path, target / entry.path.name)
                outcome = SendOutcome(entry.sop_instance_uid, 0, "success", "copied")
                progress(done, len(entries), outcome)
                outcomes.append(outcome)
            return outcomes

        return send

    return factory


def test_a_new_kind_is_a_sender_factory_and_the_runner_is_unchanged(tmp_path, monkeypatch):
    target = tmp_path / "target"
    target.mkdir()
    monkeypatch.setitem(transports.TRANSPORTS, "folder", _folder_transport(target))
    there = Destination("there", "THERE", "127.0.0.1", 104, kind="folder")
    with Outbox(tmp_path / "box") as outbox:
        outbox.add(make_datasets(3), [there])
        summary = send_due(outbox, transports.senders(SETTINGS))
        assert summary.ok and summary.sent == 3
        entries = outbox.list()
        assert {entry.state for entry in entries} == {SENT}
        assert {entry.destination.kind for entry in entries} == {"folder"}  # kept when queued
    assert sorted(p.name for p in target.iterdir()) == sorted(e.path.name for e in entries)


def test_an_unknown_kind_fails_its_batch_and_keeps_the_entries(tmp_path):
    odd = Destination("odd", "ODD", "127.0.0.1", 104, kind="carrier-pigeon")
    with Outbox(tmp_path / "box") as outbox:
        outbox.add(make_datasets(2), [odd])
        summary = send_due(outbox, transports.senders(SETTINGS))
        run = summary.destinations["odd"]
        assert "unknown destination kind 'carrier-pigeon'" in run.error
        assert "dimse" in run.error
        assert {(e.state, e.path.exists()) for e in outbox.list()} == {(FAILED, True)}


def test_each_kind_gets_its_own_sender_made_once(monkeypatch):
    made = []
    monkeypatch.setitem(transports.TRANSPORTS, "a", lambda s: made.append("a") or (lambda *_: []))
    monkeypatch.setitem(transports.TRANSPORTS, "b", lambda s: made.append("b") or (lambda *_: []))
    sender_for = transports.senders(SETTINGS)
    base = Destination("x", "X", "127.0.0.1", 104)
    first = sender_for(dataclasses.replace(base, kind="a"))
    assert sender_for(dataclasses.replace(base, name="y", kind="a")) is first
    assert sender_for(dataclasses.replace(base, kind="b")) is not first
    assert made == ["a", "b"]
