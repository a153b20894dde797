"""The durable store: real SQLite and real files in tmp_path."""

from __future__ import annotations

import os
import time

import numpy as np
import pydicom
import pytest

from napari_ezp2p.core.convert import convert_images
from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.transfer import transfer_syntax
from napari_ezp2p.net.destination import Destination, TlsSettings
from napari_ezp2p.outbox import (
    FAILED,
    QUEUED,
    REJECTED,
    SENDING,
    SENT,
    Outbox,
    OutboxError,
    backoff_delay,
    default_outbox_folder,
)
from napari_ezp2p.outbox.owners import HOST

PACS = Destination("pacs", "PACS", "127.0.0.1", 11112)
ARCHIVE = Destination("archive", "ARCHIVE", "127.0.0.1", 11113, tls=TlsSettings(ca_file="ca.pem"))


def make_datasets(count: int = 3, patient: str = "DOE^JANE") -> list[pydicom.Dataset]:
    """``count`` small Secondary Capture objects of one series, explicit VR little endian."""
    rng = np.random.default_rng(count)
    images = [
        SourceImage.from_array(rng.integers(0, 255, (16, 16), dtype=np.uint8))
        for _ in range(count)
    ]
    meta = Metadata(patient_name=patient, patient_id="ID1", series_description="scans")
    return convert_images(images, meta, transfer_syntax("explicit-le"))


def test_default_folder_is_under_user_data_dir():
    folder = default_outbox_folder()
    assert folder.name == "outbox"
    assert "napari-ezp2p" in str(folder)


def test_add_writes_valid_files_and_queued_rows(tmp_path):
    datasets = make_datasets(3)
    with Outbox(tmp_path) as outbox:
        ids = outbox.add(datasets, [PACS])
        assert len(ids) == 3
        entries = outbox.list()
        assert [e.id for e in entries] == ids
        for ds, entry in zip(datasets, entries, strict=True):
            assert entry.state == QUEUED
            assert entry.attempts == 0
            assert entry.sop_instance_uid == ds.SOPInstanceUID
            assert entry.study_instance_uid == ds.StudyInstanceUID
            assert entry.patient_name == "DOE^JANE"
            assert entry.patient_id == "ID1"
            assert entry.series_description == "scans"
            assert entry.address == "PACS@127.0.0.1:11112"
            assert entry.destination == PACS
            assert entry.path == tmp_path / "instances" / f"{ds.SOPInstanceUID}.dcm"
            read = pydicom.dcmread(entry.path)  # a valid Part 10 file
            assert read.SOPInstanceUID == ds.SOPInstanceUID
            assert read.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
            assert np.array_equal(read.pixel_array, ds.pixel_array)
        assert not list((tmp_path / "instances").glob("*.part"))
        assert (tmp_path / "outbox.sqlite3").exists()

        # The same instances again: not duplicated, the same ids come back.
        assert outbox.add(datasets, [PACS]) == ids
        assert len(outbox.list()) == 3
        counts = {QUEUED: 3, SENDING: 0, SENT: 0, FAILED: 0, REJECTED: 0}
        assert outbox.summary() == {"pacs": counts}


def test_database_settings_and_reopen(tmp_path):
    with Outbox(tmp_path) as outbox:
        outbox.add(make_datasets(1), [PACS])
        assert outbox._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert outbox._db.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    with Outbox(tmp_path) as outbox:  # durable: a new connection sees it all
        assert [e.state for e in outbox.list()] == [QUEUED]


def test_several_destinations_share_one_file(tmp_path):
    datasets = make_datasets(2)
    with Outbox(tmp_path) as outbox:
        ids = outbox.add(datasets, [PACS, ARCHIVE])
        assert len(ids) == 4
        assert len(list((tmp_path / "instances").glob("*.dcm"))) == 2
        archive = outbox.list(destination="archive")
        assert [e.destination for e in archive] == [ARCHIVE, ARCHIVE]  # TLS settings kept
        assert {e.path for e in archive} == {e.path for e in outbox.list(destination="pacs")}

        # Sent to the PACS and purged: the archive still needs the files.
        for entry in outbox.list(destination="pacs"):
            outbox.mark_sent(entry.id, 0, "")
        assert outbox.purge() == 2
        assert all(e.path.exists() for e in outbox.list())
        for entry in outbox.list(destination="archive"):
            outbox.mark_sent(entry.id, 0xB000, "coerced")
        assert outbox.purge() == 2
        assert outbox.list() == []
        assert list((tmp_path / "instances").iterdir()) == []


def test_add_accepts_part10_files_and_rejects_bad_input(tmp_path):
    ds = make_datasets(1)[0]
    source = tmp_path / "in.dcm"
    ds.save_as(source, enforce_file_format=True)
    with Outbox(tmp_path / "box") as outbox:
        (entry_id,) = outbox.add([source], [PACS])
        assert outbox.get(entry_id).sop_instance_uid == ds.SOPInstanceUID
        with pytest.raises(OutboxError, match="no destination"):
            outbox.add([ds], [])
        del ds.SOPInstanceUID
        with pytest.raises(OutboxError, match="SOP Instance UID"):
            outbox.add([ds], [PACS])
        with pytest.raises(OutboxError, match="not a valid UID"):
            outbox.path_for("../../etc/passwd")
        with pytest.raises(OutboxError, match="unknown state"):
            outbox.list(states=["lost"])


def test_claim_is_exclusive_between_two_connections(tmp_path):
    with Outbox(tmp_path) as first, Outbox(tmp_path) as second:
        ids = first.add(make_datasets(3), [PACS])
        claim = first.claim(ids)
        assert claim.ids == ids
        assert second.claim(ids).entries == []  # nothing left for the other process
        assert {e.state for e in second.list()} == {SENDING}
        assert all(e.attempts == 1 for e in second.list())
        assert claim.owner.split(":")[-2] == str(os.getpid())
        # Our own live process is not "dead": recover leaves the rows alone.
        assert second.recover() == []


def test_failed_rows_back_off_and_retry_makes_them_due(tmp_path):
    now = 1_000_000.0
    with Outbox(tmp_path) as outbox:
        ids = outbox.add(make_datasets(2), [PACS], now=now)
        assert [e.id for e in outbox.due(now)] == ids
        claim = outbox.claim(ids, now=now)
        outbox.mark_failed(ids, "connection refused", claim=claim, now=now)
        failed = outbox.list(states=[FAILED])
        assert [e.next_attempt for e in failed] == [now + 30, now + 30]
        assert [e.last_message for e in failed] == ["connection refused"] * 2
        assert outbox.due(now + 29) == []
        assert len(outbox.due(now + 30)) == 2

        outbox.claim(ids, now=now + 30)  # second attempt fails too: 1 min
        outbox.mark_failed(ids, "refused again", now=now + 30)
        assert {e.next_attempt for e in outbox.list()} == {now + 30 + 60}
        assert {e.attempts for e in outbox.list()} == {2}

        assert outbox.retry([ids[0]], now=now + 31) == 1
        assert [e.id for e in outbox.due(now + 31)] == [ids[0]]
        assert outbox.retry(now=now + 31) == 1
        assert [e.id for e in outbox.due(now + 31)] == ids


def test_not_sent_rows_go_back_to_queued(tmp_path):
    now = 2_000_000.0
    with Outbox(tmp_path) as outbox:
        ids = outbox.add(make_datasets(2), [PACS], now=now)
        claim = outbox.claim(ids, now=now)
        outbox.mark_not_sent(ids, "not sent: association aborted", claim=claim, now=now)
        entries = outbox.list()
        assert [e.state for e in entries] == [QUEUED, QUEUED]
        assert [e.attempts for e in entries] == [0, 0]  # never offered: no attempt counted
        assert [e.next_attempt for e in entries] == [now + 30, now + 30]
        assert entries[0].last_message == "not sent: association aborted"


def test_a_sent_row_is_never_marked_failed(tmp_path):
    with Outbox(tmp_path) as outbox:
        (entry_id,) = outbox.add(make_datasets(1), [PACS])
        outbox.claim([entry_id])
        outbox.mark_sent(entry_id, 0, "", "1.2.840.10008.1.2.1")
        outbox.mark_failed([entry_id], "late failure")
        entry = outbox.get(entry_id)
        assert (entry.state, entry.last_status, entry.next_attempt) == (SENT, 0, None)
        assert entry.transfer_syntax == "1.2.840.10008.1.2.1"


def test_backoff_schedule():
    assert [backoff_delay(n) for n in range(1, 11)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
        3600,
    ]
    assert backoff_delay(0) == 30
    assert backoff_delay(10_000) == 3600
    for _ in range(20):
        assert 27 <= backoff_delay(1, jitter=0.1) <= 30


def test_recover_takes_back_dead_and_stale_claims(tmp_path, monkeypatch):
    now = time.time()
    with Outbox(tmp_path, stale_after=600) as outbox:
        ids = outbox.add(make_datasets(3), [PACS], now=now)
        claims = [outbox.claim([entry_id], now=now) for entry_id in ids]
        host = HOST
        dead_pid = 2**22 + 12345  # above any Linux pid_max default: never a live process
        outbox._db.execute(
            "UPDATE entries SET owner = ? WHERE id = ?", (f"{host}:{dead_pid}:x", ids[0])
        )
        outbox._db.execute("UPDATE entries SET owner = ? WHERE id = ?", ("elsewhere:1:y", ids[1]))
        assert outbox.recover(now=now) == [ids[0]]  # dead owner on this host
        assert outbox.recover(now=now + 601) == [ids[1], ids[2]]  # silent for too long
        assert {e.state for e in outbox.list()} == {QUEUED}
        assert "ended or went silent" in outbox.get(ids[0]).last_message
        assert claims[2].ids == [ids[2]]


def test_recover_takes_back_a_claim_whose_pid_another_process_has_now(tmp_path):
    with Outbox(tmp_path) as outbox:
        ids = outbox.add(make_datasets(2), [PACS])
        claim = outbox.claim(ids)
        host, pid, token = claim.owner.rsplit(":", 2)
        started = float(token.partition("-")[0])
        reused = f"{host}:{pid}:{started - 3600:.2f}-{token.partition('-')[2]}"
        outbox._db.execute("UPDATE entries SET owner = ? WHERE id = ?", (reused, ids[0]))
        assert outbox.recover() == [ids[0]]  # our pid, but not the process that claimed it
        assert [e.state for e in outbox.list()] == [QUEUED, SENDING]


def test_recover_removes_only_old_orphans(tmp_path):
    with Outbox(tmp_path) as outbox:
        (entry_id,) = outbox.add(make_datasets(1), [PACS])
        kept = outbox.get(entry_id).path
        old_orphan = tmp_path / "instances" / "1.2.3.dcm"
        new_orphan = tmp_path / "instances" / "1.2.4.dcm"
        partial = tmp_path / "instances" / ".1.2.5.dcm.abc.part"
        for path in (old_orphan, new_orphan, partial):
            path.write_bytes(b"x")
        hours_ago = time.time() - 2 * 3600
        os.utime(old_orphan, (hours_ago, hours_ago))
        os.utime(partial, (hours_ago, hours_ago))
        outbox.recover()
        assert kept.exists() and new_orphan.exists()
        assert not old_orphan.exists() and not partial.exists()


def test_purge_by_age_and_state(tmp_path):
    now = 3_000_000.0
    with Outbox(tmp_path) as outbox:
        ids = outbox.add(make_datasets(3), [PACS], now=now)
        outbox.claim(ids, now=now)
        outbox.mark_sent(ids[0], 0, now=now)
        outbox.mark_sent(ids[1], 0, now=now + 100)
        outbox.mark_failed([ids[2]], "refused", now=now)
        assert outbox.purge(older_than=50, now=now + 100) == 1
        assert [e.id for e in outbox.list()] == ids[1:]
        assert outbox.purge(states=[SENDING]) == 0
        assert outbox.purge(states=[FAILED]) == 1
        assert [e.id for e in outbox.list()] == [ids[1]]


def test_write_then_insert_in_batches(tmp_path):
    datasets = make_datasets(3)
    with Outbox(tmp_path) as outbox:
        written = [outbox.write(ds) for ds in datasets]
        assert all(w.path.exists() for w in written) and outbox.list() == []
        ids = outbox.insert(written, [PACS, ARCHIVE])
        assert [(e.sop_instance_uid, e.destination_name) for e in outbox.list()] == [
            (str(ds.SOPInstanceUID), name) for ds in datasets for name in ("pacs", "archive")
        ]
        assert outbox.insert(written, [PACS, ARCHIVE]) == ids
        # A file removed before its rows went in: a dataset cannot be written again...
        orphan = outbox.write(make_datasets(4)[3])
        orphan.path.unlink()
        with pytest.raises(OutboxError, match="removed meanwhile"):
            outbox.insert([orphan], [PACS])
        # ... a Part 10 file is copied again from its source.
        source = tmp_path / "in.dcm"
        make_datasets(5)[4].save_as(source, enforce_file_format=True)
        again = outbox.write(source)
        outbox.copies.finish(again.path)  # copied in the background: there once it ends
        again.path.unlink()
        (entry_id,) = outbox.insert([again], [PACS])
        assert outbox.get(entry_id).path.read_bytes() == source.read_bytes()


def test_sent_marks_commit_without_fsync_and_the_connection_stays_full(tmp_path):
    with Outbox(tmp_path) as outbox:
        (entry_id,) = outbox.add(make_datasets(1), [PACS])
        statements = []
        outbox._db.set_trace_callback(statements.append)
        outbox.mark_sent(entry_id, 0, "")
        outbox._db.set_trace_callback(None)
        assert statements[0] == "PRAGMA synchronous = NORMAL"
        assert statements[-1] == "PRAGMA synchronous = FULL"
        assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2
    with Outbox(tmp_path) as outbox:
        assert [e.state for e in outbox.list()] == [SENT]


def test_due_rows_never_tried_go_before_those_that_failed(tmp_path):
    with Outbox(tmp_path) as outbox:
        first, second, third = outbox.add(make_datasets(3), [PACS])
        claim = outbox.claim([first])
        outbox.mark_failed([first], "the peer aborted", claim=claim)
        outbox.retry()  # due again now
        assert [e.id for e in outbox.due()] == [second, third, first]
