"""The Outbox dock's model, without Qt: rows, polling, retry, purge and open."""

from __future__ import annotations

import numpy as np
import pytest

from napari_ezp2p._napari.outbox_view import (
    FILTER_STATES,
    PURGEABLE,
    OutboxRow,
    outbox_rows,
    poll,
    purge_entries,
    read_entry,
    retry_entries,
)
from napari_ezp2p.config import Config, save_config
from napari_ezp2p.net.destination import Destination
from napari_ezp2p.outbox import FAILED, REJECTED, SENDING, SENT, STATES, Outbox
from tests.conftest import free_port, start_storescp
from tests.outbox.test_queue import PACS, make_datasets


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """The outbox every face uses, in this test's folder, and a config with no PACS."""
    path = tmp_path / "config.toml"
    save_config(Config(), path)
    monkeypatch.setenv("EZP2P_CONFIG", str(path))
    monkeypatch.setenv("EZP2P_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.delenv("EZP2P_AET", raising=False)
    return tmp_path / "outbox"


def test_the_filter_states_are_the_outboxs_own():
    assert FILTER_STATES == STATES
    assert SENDING not in PURGEABLE


def test_rows_say_what_went_where_and_how_it_stands(folder):
    assert outbox_rows(folder) == []
    with Outbox(folder) as outbox:
        ids = outbox.add(make_datasets(2), [PACS], now=1_700_000_000.0)
        outbox.claim([ids[1]])
        outbox.mark_rejected([ids[1]], "refused for good", 0xA900)
        entries = outbox.list()
    rows = outbox_rows(folder)
    assert [row.entry_id for row in rows] == ids[::-1]  # the latest first
    rejected, queued = rows
    assert isinstance(queued, OutboxRow)
    assert (queued.destination, queued.address) == ("pacs", PACS.address)
    assert queued.patient == "DOE JANE (ID1)"
    assert queued.description == "scans"
    assert queued.sop_instance_uid == entries[0].sop_instance_uid
    assert queued.study_instance_uid == entries[0].study_instance_uid
    assert (queued.state, queued.reason) == ("queued", "")
    assert (rejected.state, rejected.reason) == (REJECTED, "refused for good")
    assert [row.entry_id for row in outbox_rows(folder, [REJECTED])] == [ids[1]]


def test_poll_reads_the_rows_again_only_when_the_outbox_changed(folder):
    assert poll(None).rows is None  # no outbox yet, as before
    first = poll(None, force=True)
    assert first.folder == folder and first.rows == []
    assert poll(first.seen).rows is None
    with Outbox(folder) as outbox:
        outbox.add(make_datasets(1), [PACS])
    changed = poll(first.seen)
    assert changed.seen != first.seen and len(changed.rows) == 1
    assert poll(changed.seen).rows is None
    assert len(poll(changed.seen, force=True).rows) == 1


def test_purge_chosen_entries_or_a_state(folder):
    with Outbox(folder) as outbox:
        ids = outbox.add(make_datasets(3), [PACS])
        outbox.claim(ids[1:])
        outbox.mark_rejected(ids[1:], "no")
    assert purge_entries([ids[0], ids[1]], (REJECTED,)) == 1
    assert {row.entry_id for row in outbox_rows(folder)} == {ids[0], ids[2]}
    assert purge_entries(None, (REJECTED,)) == 1
    assert [row.entry_id for row in outbox_rows(folder)] == [ids[0]]
    assert purge_entries(None) == 1
    assert outbox_rows(folder) == []


def test_retry_sends_what_waits_and_rejected_only_when_asked(folder, tmp_path):
    port = free_port()
    down = Destination("pacs", "STORESCP", "127.0.0.1", port)
    with Outbox(folder) as outbox:
        ids = outbox.add(make_datasets(2), [down])
        outbox.claim(ids)
        outbox.mark_failed([ids[0]], "connection refused")
        outbox.mark_rejected([ids[1]], "refused for good")
    scp = start_storescp(tmp_path / "scp", port=port)  # the PACS is back
    try:
        report = retry_entries(None)
        assert [(row.entry_id, row.state) for row in report.rows] == [(ids[0], SENT)]
        states = {row.entry_id: row.state for row in outbox_rows(folder)}
        assert states == {ids[0]: SENT, ids[1]: REJECTED}
        report = retry_entries([ids[1]], rejected=True)
        assert [(row.entry_id, row.state) for row in report.rows] == [(ids[1], SENT)]
        assert len(scp.received()) == 2
    finally:
        scp.peer.stop()


def test_read_entry_gives_the_objects_pixels(folder):
    with Outbox(folder) as outbox:
        (dataset,) = make_datasets(1)
        outbox.add([dataset], [PACS])
    (row,) = outbox_rows(folder)
    ((data, meta, kind),) = read_entry(row)
    assert kind == "image"
    np.testing.assert_array_equal(np.asarray(data), dataset.pixel_array)


def test_a_failed_entry_says_why(folder):
    with Outbox(folder) as outbox:
        (entry_id,) = outbox.add(make_datasets(1), [PACS])
        outbox.claim([entry_id])
        outbox.mark_failed([entry_id], "Association rejected")
    (row,) = outbox_rows(folder)
    assert (row.state, row.reason, row.attempts) == (FAILED, "Association rejected", 1)
