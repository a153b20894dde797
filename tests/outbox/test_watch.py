"""Purging chosen entries, and the read-only fingerprint a polling view uses."""

from __future__ import annotations

from napari_ezp2p.outbox import SENT, Outbox
from napari_ezp2p.outbox.watch import fingerprint
from tests.outbox.test_queue import ARCHIVE, PACS, make_datasets


def test_purge_only_the_ids_given_and_a_file_no_row_needs(tmp_path):
    with Outbox(tmp_path) as outbox:
        ids = outbox.add(make_datasets(2), [PACS, ARCHIVE])  # object 1: ids 0, 1
        entries = {e.id: e for e in outbox.list()}
        assert outbox.purge(["queued"], ids=[ids[0], ids[2]]) == 2
        assert [e.id for e in outbox.list()] == [ids[1], ids[3]]
        assert entries[ids[0]].path.exists()  # the archive's row still needs it
        assert outbox.purge(["queued"], ids=[ids[1]]) == 1
        assert not entries[ids[1]].path.exists()
        assert outbox.purge([SENT], ids=[ids[3]]) == 0  # not in that state


def test_fingerprint_changes_with_rows_and_not_with_opening(tmp_path):
    assert fingerprint(tmp_path) is None
    Outbox(tmp_path).close()
    empty = fingerprint(tmp_path)
    assert empty == (0, 0.0, 0.0)
    with Outbox(tmp_path) as outbox:
        assert fingerprint(tmp_path) == empty  # opening it is no change
        (entry_id,) = outbox.add(make_datasets(1), [PACS], now=1000.0)
        queued = fingerprint(tmp_path)
        assert queued != empty
        outbox.claim([entry_id], now=1001.0)
        outbox.mark_sent(entry_id, 0, now=1002.0)
        sent = fingerprint(tmp_path)
        assert sent not in (empty, queued)
        outbox.purge([SENT])
        assert fingerprint(tmp_path) == empty
