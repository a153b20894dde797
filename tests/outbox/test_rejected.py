"""Rows refused for good: the ``rejected`` state, final until a forced retry, and the
schema 1 outboxes it came with."""

from __future__ import annotations

import sqlite3

from napari_ezp2p.outbox import FAILED, QUEUED, REJECTED, SENT, Outbox
from napari_ezp2p.outbox.database import DATABASE_NAME
from tests.outbox.test_queue import PACS, make_datasets

#: The table of schema 1, as napari-ezp2p made it before the ``rejected`` state.
SCHEMA_1 = """
CREATE TABLE entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sop_instance_uid TEXT NOT NULL,
    sop_class_uid TEXT NOT NULL DEFAULT '',
    study_instance_uid TEXT NOT NULL DEFAULT '',
    patient_name TEXT NOT NULL DEFAULT '',
    patient_id TEXT NOT NULL DEFAULT '',
    series_description TEXT NOT NULL DEFAULT '',
    destination TEXT NOT NULL,
    address TEXT NOT NULL,
    destination_json TEXT NOT NULL,
    file TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_message TEXT NOT NULL DEFAULT '',
    transfer_syntax TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    next_attempt REAL,
    UNIQUE (sop_instance_uid, destination)
);
CREATE INDEX entries_due ON entries (state, next_attempt);
CREATE INDEX entries_destination ON entries (destination, state);
"""


def test_a_rejected_row_is_final_until_a_forced_retry(tmp_path):
    now = 4_000_000.0
    with Outbox(tmp_path) as outbox:
        ids = outbox.add(make_datasets(3), [PACS], now=now)
        claim = outbox.claim(ids, now=now)
        outbox.mark_rejected([ids[0]], "0xC000 Cannot Understand", 0xC000, claim=claim, now=now)
        outbox.mark_failed([ids[1]], "0xA700 Refused: Out of Resources", 0xA700, now=now)
        outbox.mark_sent(ids[2], 0, now=now)
        outbox.mark_rejected([ids[2]], "late")  # a row already sent stays sent
        rejected, failed, sent = outbox.list()
        assert (rejected.state, rejected.last_status, rejected.next_attempt) == (
            REJECTED,
            0xC000,
            None,
        )
        assert rejected.last_message == "0xC000 Cannot Understand"
        assert (failed.state, failed.next_attempt) == (FAILED, now + 30)
        assert sent.state == SENT
        assert outbox.summary()["pacs"][REJECTED] == 1

        later = now + 10 * 86400
        assert [e.id for e in outbox.due(later)] == [ids[1]]  # never due by itself
        assert outbox.retry(now=now + 1) == 1  # the failed one only
        assert outbox.get(ids[0]).state == REJECTED
        assert outbox.retry([ids[0]], now=now + 1) == 0

        assert outbox.retry([ids[0]], rejected=True, now=now + 2) == 1
        again = outbox.get(ids[0])
        assert (again.state, again.next_attempt) == (QUEUED, now + 2)
        assert [e.id for e in outbox.due(now + 2)] == ids[:2]

        outbox.mark_rejected([ids[0]], "refused again", now=now + 3)
        assert outbox.purge(states=[REJECTED]) == 1
        assert [e.id for e in outbox.list()] == ids[1:]


def test_an_outbox_of_schema_1_opens_with_its_rows(tmp_path):
    with Outbox(tmp_path / "made") as made:
        ids = made.add(make_datasets(3), [PACS], now=5_000_000.0)
        rows = made._db.execute("SELECT * FROM entries ORDER BY id").fetchall()
    folder = tmp_path / "old"
    folder.mkdir()
    old = sqlite3.connect(folder / DATABASE_NAME)
    old.executescript(SCHEMA_1)
    marks = ",".join("?" * len(rows[0]))
    old.executemany(f"INSERT INTO entries VALUES ({marks})", rows)
    old.execute("DELETE FROM entries WHERE id = ?", (ids[-1],))  # purged: its id stays used
    old.execute("PRAGMA user_version = 1")
    old.commit()
    old.close()

    with Outbox(folder) as outbox:
        assert outbox._db.execute("PRAGMA user_version").fetchone()[0] == 2
        migrated = outbox._db.execute("SELECT * FROM entries ORDER BY id").fetchall()
        assert migrated == rows[:-1]
        outbox.mark_rejected([ids[0]], "0xC000 Cannot Understand")
        assert outbox.get(ids[0]).state == REJECTED
        (new_id,) = outbox.add(make_datasets(4)[3:], [PACS])
        assert new_id > ids[-1]
        indexes = {r[0] for r in outbox._db.execute("SELECT name FROM sqlite_master")}
        assert {"entries_due", "entries_destination"} <= indexes
        assert "entries_v1" not in indexes
    with Outbox(folder) as outbox:  # and opens again as it is
        assert [e.id for e in outbox.list()] == [*ids[:2], new_id]
