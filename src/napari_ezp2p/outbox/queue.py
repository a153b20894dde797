"""The outbox: a durable queue of DICOM instances waiting for a destination.

One SQLite database (:mod:`.database`) and one Part 10 file per instance under
``instances/<SOPInstanceUID>.dcm`` (:mod:`.files`). A row is one (instance, destination)
pair; several destinations share the instance's file, and a retry sends that same file
again, so the same UIDs. Nothing is lost:

* :meth:`Outbox.add` writes each file first (atomically), then inserts every row in one
  transaction (:meth:`Outbox.write` and :meth:`Outbox.insert` do the two steps for a
  caller that inserts rows in batches). A process that dies in between leaves a file
  without a row: :meth:`Outbox.recover` deletes such orphans (nobody got an id for
  them) at once when no other process has the outbox open, else once older than
  ``ORPHAN_GRACE`` (which keeps a concurrent ``add`` safe).
* An instance is one file: the same object again is that instance; another object under
  its SOP Instance UID is refused, unless it is to replace it (then sent again).
* Rows are committed with ``synchronous=FULL``, except the ``sent`` marks (see
  :meth:`Outbox.mark_sent`): a power loss may send the last few again, with the same UIDs.
* Rows being sent are ``sending`` and carry their owner (:mod:`.owners`). A row whose
  owner process on this host no longer runs, or whose owner has not been heard of for
  ``stale_after`` seconds (another host), goes back to ``queued`` on the next
  :meth:`Outbox.recover`, which :func:`~.runner.send_due` calls first.
* A file is removed only when no row of any destination refers to it any more.
* A row its destination refused for good is ``rejected``, for good: only
  :meth:`Outbox.retry` with ``rejected=True`` queues it again.

Two processes (the CLI and a napari session) can share an outbox; within a process one
:class:`Outbox` may be used from several threads (its calls are serialised). The folder
must be on a local disk: SQLite's WAL mode does not work over a network share.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, suppress
from datetime import datetime
from pathlib import Path

from pydicom import Dataset

from ..net.destination import Destination
from .database import (
    COLUMNS,
    FAILED,
    QUEUED,
    REJECTED,
    SENDING,
    SENT,
    STATES,
    Claim,
    Entry,
    OutboxError,
    chunks,
    delete_rows,
    end_attempt,
    give_back,
    insert_row,
    make_due,
    open_database,
    queue_again,
    row_filter,
    transaction,
)
from .files import (
    Cleaned,
    Source,
    Written,
    header_of,
    instance_path,
    old_orphans,
    orphans_before,
    read_source,
    register_writer,
    remove_files,
    restore_file,
    sync_folder,
)
from .owners import new_owner, owner_gone
from .writing import ConcurrentCopies

INSTANCES_DIR = "instances"

#: A ``sending`` row not heard of for this long is taken back even if its owner seems alive.
STALE_AFTER = 3600.0
#: Files without a row are deleted by :meth:`Outbox.recover` once older than this (at
#: once when no other process has the outbox open: see :meth:`Outbox.clean_orphans`).
ORPHAN_GRACE = 3600.0


def default_outbox_folder() -> Path:
    """``<user data dir>/napari-ezp2p/outbox`` (nothing is created)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("napari-ezp2p", appauthor=False)) / "outbox"


def _timestamp(now: float | datetime | None) -> float:
    if now is None:
        return time.time()
    if isinstance(now, datetime):
        return now.timestamp()
    return float(now)


class Outbox:
    """The durable queue in ``folder`` (created if need be). Use as a context manager.

    ``stale_after`` is how long a ``sending`` row may go without news before another
    run takes it back even though its owner seems alive (see :meth:`recover`).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str] | None = None,
        *,
        busy_timeout: float = 30.0,
        stale_after: float = STALE_AFTER,
    ) -> None:
        self.folder = Path(folder) if folder is not None else default_outbox_folder()
        self.instances = self.folder / INSTANCES_DIR
        self.stale_after = stale_after
        self._lock = threading.RLock()
        self.copies = ConcurrentCopies()  # of DICOM files, waited for before their rows
        try:
            self.instances.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            reason = error.strerror
            raise OutboxError(f"cannot open the outbox in {self.folder}: {reason}") from error
        self._db = open_database(self.folder, busy_timeout)
        self._opened = time.time()
        try:
            self._writer = register_writer(self.folder)
        except OSError as error:
            self._db.close()
            raise OutboxError(f"cannot open the outbox in {self.folder}: {error}") from error

    # -- plumbing ---------------------------------------------------------------------

    def _write(self, *, durable: bool = True) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction (see :func:`~.database.transaction`)."""
        return transaction(self._db, self._lock, durable=durable)

    def _select(
        self, where: str = "1", params: Sequence[object] = (), order: str = "id"
    ) -> list[Entry]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {COLUMNS} FROM entries WHERE {where} ORDER BY {order}", params
            ).fetchall()
        return [self._entry(row) for row in rows]

    def _entry(self, row: Sequence) -> Entry:
        values = list(row)
        values[10] = self.folder / values[10]
        return Entry(*values)

    def close(self) -> None:
        self.copies.close()
        with self._lock:
            self._db.close()
        with suppress(OSError):
            self._writer.unlink()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def path_for(self, sop_instance_uid: str) -> Path:
        """Where the Part 10 file of this instance lives."""
        return instance_path(self.instances, sop_instance_uid)

    # -- adding -----------------------------------------------------------------------

    def add(
        self,
        objects: Iterable[Source],
        destinations: Iterable[Destination],
        *,
        replace: bool = False,
        now: float | datetime | None = None,
    ) -> list[int]:
        """Queue every object for every destination; the entry ids, per object then
        per destination.

        Objects are datasets or DICOM files. Each is written to the outbox first
        (:meth:`write`, which says what ``replace`` does); then all rows go in with one
        transaction (:meth:`insert`). An instance already queued (or sent) for a
        destination is not queued again: its existing id is returned.
        """
        destinations = list(destinations)
        if not destinations:
            raise OutboxError("no destination to queue for")
        written = [(obj, self.write(obj, replace=replace)) for obj in objects]
        return self._insert(written, destinations, _timestamp(now))

    def write(self, obj: Source, *, replace: bool = False) -> Written:
        """Put one object's Part 10 file in the outbox (atomically, fsynced), no row yet.

        A DICOM file goes with its data set's bytes unchanged (only its header read;
        copied in the background: :mod:`.writing`, waited for by :meth:`insert`), a
        dataset is written by ``write_atomically``. Nothing is written when the
        instance's file holds this object already; another object under its SOP
        Instance UID raises InstanceConflict, unless ``replace``: then its file takes
        that one's place and :meth:`insert` queues the instance again for every
        destination it has (refused while it is being sent). Pass the result to
        :meth:`insert`: until then the file is an orphan that :meth:`recover` deletes
        after ``ORPHAN_GRACE``."""
        source = read_source(obj)
        uid = str(header_of(source).get("SOPInstanceUID", ""))
        if replace and self._select("sop_instance_uid = ? AND state = ?", (uid, SENDING)):
            raise OutboxError(f"{uid} is being sent: replace it once that is done")
        return self.copies.write(source, self.instances, replace=replace)

    def insert(
        self,
        written: Sequence[Written],
        destinations: Iterable[Destination],
        *,
        now: float | datetime | None = None,
    ) -> list[int]:
        """The rows of objects :meth:`write` put in the outbox, in one transaction; the
        entry ids, per object then per destination (as :meth:`add`). The rows of a
        replaced instance are queued again, due now, with its new header."""
        destinations = list(destinations)
        if not destinations:
            raise OutboxError("no destination to queue for")
        return self._insert([(None, w) for w in written], destinations, _timestamp(now))

    def _insert(
        self,
        written: Sequence[tuple[object, Written]],
        destinations: Sequence[Destination],
        stamp: float,
    ) -> list[int]:
        self.copies.done([item.path for _, item in written])  # each file is whole, fsynced
        sync_folder(self.instances)  # the files' names are durable before their rows
        ids: list[int] = []
        with self._write() as db:
            for obj, item in written:
                if not item.path.exists():  # purged by another process since it was written
                    restore_file(item, obj if isinstance(obj, Dataset) else None)
                if item.replaced:
                    queue_again(db, item, stamp)
                file = item.path.relative_to(self.folder)
                ids.extend(insert_row(db, item, dest, file, stamp) for dest in destinations)
        return ids

    # -- reading ----------------------------------------------------------------------

    def get(self, entry_id: int) -> Entry | None:
        found = self._select("id = ?", (entry_id,))
        return found[0] if found else None

    def list(
        self, states: Iterable[str] | None = None, destination: str | None = None
    ) -> list[Entry]:
        """The rows in these states (all if ``None``), for one destination name or all."""
        where, params = row_filter(states, [destination] if destination else None)
        return self._select(where, params)

    def due(
        self,
        now: float | datetime | None = None,
        destinations: Iterable[str] | None = None,
    ) -> list[Entry]:
        """Queued and failed rows whose next attempt has come: those never tried first
        (an object that failed does not go before them again), each oldest first."""
        where, params = row_filter((QUEUED, FAILED), destinations)
        where = f"{where} AND next_attempt <= ?"
        return self._select(where, [*params, _timestamp(now)], order="attempts > 0, id")

    def summary(self) -> dict[str, dict[str, int]]:
        """``{destination name: {state: count}}`` with every state present."""
        with self._lock:
            rows = self._db.execute(
                "SELECT destination, state, COUNT(*) FROM entries GROUP BY destination, state"
            ).fetchall()
        counts: dict[str, dict[str, int]] = {}
        for name, state, count in rows:
            counts.setdefault(name, dict.fromkeys(STATES, 0))[state] = count
        return counts

    # -- sending: claim, heartbeat, outcomes --------------------------------------------

    def claim(self, entry_ids: Iterable[int], *, now: float | datetime | None = None) -> Claim:
        """Mark these rows ``sending`` for this process and count an attempt.

        Only rows still due (queued or failed, next attempt come) are taken: rows another
        run has claimed, sent or failed meanwhile are left out. The claim holds the rows
        this caller may send, in id order.
        """
        stamp = _timestamp(now)
        owner = new_owner()
        ids = list(entry_ids)
        with self._write() as db:
            for chunk in chunks(ids):
                marks = ",".join("?" * len(chunk))
                db.execute(
                    "UPDATE entries SET state = ?, owner = ?, attempts = attempts + 1, "
                    f"updated = ? WHERE id IN ({marks}) AND state IN (?, ?) "
                    "AND next_attempt <= ?",
                    (SENDING, owner, stamp, *chunk, QUEUED, FAILED, stamp),
                )
        return Claim(owner, self._select("owner = ? AND state = ?", (owner, SENDING)))

    def heartbeat(self, claim: Claim, *, now: float | datetime | None = None) -> None:
        """Say the claim's owner is still at work (keeps :meth:`recover` off its rows)."""
        with self._write() as db:
            db.execute(
                "UPDATE entries SET updated = ? WHERE owner = ? AND state = ?",
                (_timestamp(now), claim.owner, SENDING),
            )

    def mark_sent(
        self,
        entry_id: int,
        status: int | None,
        message: str = "",
        transfer_syntax: str = "",
        *,
        now: float | datetime | None = None,
    ) -> None:
        """The PACS took it (success or warning status): kept with its status and message.

        Committed without waiting for the disk (see :meth:`_write`): a process that dies
        loses no mark, a power loss may lose the last ones since a durable commit, and
        those instances are then sent again with the same UIDs (which a PACS accepts).
        That makes a mark about as cheap as the send of a small object.
        """
        with self._write(durable=False) as db:
            db.execute(
                "UPDATE entries SET state = ?, last_status = ?, last_message = ?, "
                "transfer_syntax = ?, owner = '', updated = ?, next_attempt = NULL "
                "WHERE id = ?",
                (SENT, status, message, transfer_syntax, _timestamp(now), entry_id),
            )

    def mark_failed(
        self,
        entry_ids: Iterable[int],
        message: str,
        status: int | None = None,
        *,
        claim: Claim | None = None,
        now: float | datetime | None = None,
    ) -> None:
        """A failed attempt: ``failed``, due again after :func:`backoff_delay` (attempts).

        With ``claim``, only rows still held by it change (another run may have taken
        over a stale claim); a row already sent is never marked failed.
        """
        self._end_attempts(FAILED, entry_ids, message, status, claim, now)

    def mark_rejected(
        self,
        entry_ids: Iterable[int],
        message: str,
        status: int | None = None,
        *,
        claim: Claim | None = None,
        now: float | datetime | None = None,
    ) -> None:
        """Refused for good (the same object would be refused again): ``rejected``, with
        the reason, never due again unless :meth:`retry` is told ``rejected=True``.
        ``claim`` as for :meth:`mark_failed`."""
        self._end_attempts(REJECTED, entry_ids, message, status, claim, now)

    def _end_attempts(
        self,
        state: str,
        entry_ids: Iterable[int],
        message: str,
        status: int | None,
        claim: Claim | None,
        now: float | datetime | None,
    ) -> None:
        stamp, owner = _timestamp(now), claim.owner if claim else None
        with self._write() as db:
            for entry_id in entry_ids:
                end_attempt(db, entry_id, state, message, status, owner, stamp)

    def mark_not_sent(
        self,
        entry_ids: Iterable[int],
        message: str,
        *,
        claim: Claim | None = None,
        now: float | datetime | None = None,
    ) -> None:
        """Never offered to the PACS (an earlier failure ended the association).

        Back to ``queued`` with the reason, due after the first backoff step; the
        attempt the claim counted is given back.
        """
        stamp, owner = _timestamp(now), claim.owner if claim else None
        with self._write() as db:
            for entry_id in entry_ids:
                give_back(db, entry_id, message, owner, stamp)

    def retry(
        self,
        ids: Iterable[int] | None = None,
        *,
        rejected: bool = False,
        now: float | datetime | None = None,
    ) -> int:
        """Make failed rows (and queued ones waiting for a later attempt) due now; with
        ``rejected``, rejected rows too (queued again).

        ``ids`` limits it to those rows. Returns how many rows changed.
        """
        stamp = _timestamp(now)
        with self._write() as db:
            if ids is None:
                return make_due(db, stamp, rejected)
            return sum(make_due(db, stamp, rejected, chunk) for chunk in chunks(list(ids)))

    # -- recovery and clean-up --------------------------------------------------------

    def recover(self, *, now: float | datetime | None = None) -> list[int]:
        """Take back rows left ``sending`` by a process that died; clean up orphans.

        A ``sending`` row returns to ``queued`` (due now, attempt kept) when its owner
        ran on this host and no longer runs, or when it has had no news for
        ``stale_after`` seconds whoever owns it (another host, a reused pid). Part 10
        files with no row and temporary files go as :meth:`clean_orphans` says.
        Returns the ids taken back.
        """
        stamp = _timestamp(now)
        with self._lock:
            rows = self._db.execute(
                "SELECT id, owner, updated FROM entries WHERE state = ?", (SENDING,)
            ).fetchall()
        lost = [
            (entry_id, owner)
            for entry_id, owner, updated in rows
            if owner_gone(owner) or updated < stamp - self.stale_after
        ]
        taken: list[int] = []
        if lost:
            with self._write() as db:
                for entry_id, owner in lost:
                    message = f"taken back: the sending process ({owner}) ended or went silent"
                    changed = db.execute(
                        "UPDATE entries SET state = ?, owner = '', updated = ?, "
                        "next_attempt = ?, last_message = ? "
                        "WHERE id = ? AND state = ? AND owner = ?",
                        (QUEUED, stamp, stamp, message, entry_id, SENDING, owner),
                    ).rowcount
                    if changed:
                        taken.append(entry_id)
        self.clean_orphans()
        return taken

    def clean_orphans(self) -> Cleaned:
        """Delete the files no row refers to that no process can still queue: at once
        those a process that ended left (killed while converting: no rows yet), when no
        other has the outbox open; else those older than ``ORPHAN_GRACE``. What went."""
        before, gone = orphans_before(self.folder, self._writer, self._opened, ORPHAN_GRACE)
        removed = 0
        if old_orphans(self.folder, self.instances, self._known_files(), before):
            with self._write():  # no add() can commit a row for them meanwhile
                orphans = old_orphans(self.folder, self.instances, self._known_files(), before)
                removed = remove_files(orphans)
        return Cleaned(removed, remove_files(gone))

    def _known_files(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT DISTINCT file FROM entries")}

    def purge(
        self,
        states: Iterable[str] = (SENT,),
        older_than: float | None = None,
        *,
        destination: str | None = None,
        ids: Iterable[int] | None = None,
        now: float | datetime | None = None,
    ) -> int:
        """Remove rows in ``states`` (last changed more than ``older_than`` seconds ago;
        only ``ids`` when given).

        A row being sent is never purged. An instance's file goes only when no row
        of any destination refers to it any more. Returns how many rows went.
        """
        states = [s for s in states if s != SENDING]
        if not states:
            return 0
        where, params = row_filter(states, [destination] if destination else None)
        if older_than is not None:
            where, params = f"{where} AND updated < ?", [*params, _timestamp(now) - older_than]
        with self._write() as db:
            if ids is None:
                return delete_rows(db, self.folder, where, params)
            return sum(delete_rows(db, self.folder, where, params, c) for c in chunks(list(ids)))
