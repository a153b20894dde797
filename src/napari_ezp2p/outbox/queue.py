"""The outbox: a durable queue of DICOM instances waiting for a destination.

One SQLite database (``outbox.sqlite3``, WAL, ``synchronous=FULL``) and one Part 10 file
per instance under ``instances/<SOPInstanceUID>.dcm``. A row is one (instance,
destination) pair; several destinations share the instance's file, and a retry sends
that same file again, so the same UIDs.

Nothing is lost:

* :meth:`Outbox.add` writes each file first (atomically: temporary file, fsync, rename;
  a Part 10 file is copied byte for byte), then inserts every row in one transaction
  (:meth:`Outbox.write` and :meth:`Outbox.insert` do the two steps for a caller that
  writes many objects one at a time and inserts their rows in batches). A process that
  dies in between leaves a file without a row: harmless, and :meth:`Outbox.recover`
  deletes such orphans once they are older than ``ORPHAN_GRACE`` (the caller never got
  an id for them, so nobody expects them sent; the grace period keeps a concurrent
  ``add`` in another process safe).
* Rows are committed with ``synchronous=FULL``, except the ``sent`` marks, which need
  not wait for the disk (see :meth:`Outbox.mark_sent`): a power loss may send the last
  few instances again, with the same UIDs.
* Rows being sent are ``sending`` and carry their owner (``host:pid:claim``). A row
  whose owner process on this host no longer runs, or whose owner has not been heard
  of for ``stale_after`` seconds (another host, a reused pid), goes back to ``queued``
  on the next :meth:`Outbox.recover`, which :func:`~.runner.send_due` calls first.
* A file is removed only when no row of any destination refers to it any more.

Two processes (the CLI and a napari session) can share an outbox: every write is one
``BEGIN IMMEDIATE`` transaction and the connection waits for a busy database. Within a
process one :class:`Outbox` may be used from several threads (its calls are serialised).
The folder must be on a local disk: SQLite's WAL mode does not work over a network share.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydicom import Dataset, dcmread

from ..core.convert import write_atomically
from ..core.errors import Ezp2pError
from ..core.files import atomic_file
from ..net.destination import Destination, TlsSettings

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
STATES = (QUEUED, SENDING, SENT, FAILED)

DATABASE_NAME = "outbox.sqlite3"
INSTANCES_DIR = "instances"

#: First retry delay, and the longest one, in seconds.
BACKOFF_BASE = 30.0
BACKOFF_CAP = 3600.0
#: A ``sending`` row not heard of for this long is taken back even if its owner seems alive.
STALE_AFTER = 3600.0
#: Files without a row are deleted by :meth:`Outbox.recover` once older than this.
ORPHAN_GRACE = 3600.0

_SCHEMA_VERSION = 1
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
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
CREATE INDEX IF NOT EXISTS entries_due ON entries (state, next_attempt);
CREATE INDEX IF NOT EXISTS entries_destination ON entries (destination, state);
"""


class OutboxError(Ezp2pError):
    """An outbox that cannot be opened or an object it cannot hold (says which and why)."""


def default_outbox_folder() -> Path:
    """``<user data dir>/napari-ezp2p/outbox`` (nothing is created)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("napari-ezp2p", appauthor=False)) / "outbox"


def backoff_delay(
    attempts: int,
    *,
    base: float = BACKOFF_BASE,
    cap: float = BACKOFF_CAP,
    jitter: float = 0.0,
) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt.

    30 s, 1 min, 2 min, 4 min, 8 min, 16 min, 32 min, then 1 h for good. ``jitter``
    (0-1) takes off up to that fraction at random, so that clients spread out.
    """
    exponent = min(max(attempts, 1) - 1, 32)
    delay = min(base * 2**exponent, cap)
    if jitter:
        delay -= delay * min(jitter, 1.0) * random.random()
    return delay


def _timestamp(now: float | datetime | None) -> float:
    if now is None:
        return time.time()
    if isinstance(now, datetime):
        return now.timestamp()
    return float(now)


def destination_to_json(destination: Destination) -> str:
    return json.dumps(dataclasses.asdict(destination), sort_keys=True)


def destination_from_json(text: str) -> Destination:
    """The destination as it was queued (unknown keys from a newer version ignored)."""
    data = json.loads(text)
    tls = data.get("tls")
    known = {f.name for f in dataclasses.fields(Destination)} - {"tls"}
    kwargs = {key: value for key, value in data.items() if key in known}
    if tls is not None:
        tls_known = {f.name for f in dataclasses.fields(TlsSettings)}
        tls = TlsSettings(**{key: value for key, value in tls.items() if key in tls_known})
    return Destination(**kwargs, tls=tls)


@dataclass(frozen=True)
class Entry:
    """One row: an instance for one destination, and where it stands.

    Times are seconds since the epoch (``time.time()``); ``next_attempt`` is when a
    queued or failed row is due, ``None`` once sent.
    """

    id: int
    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    patient_name: str
    patient_id: str
    series_description: str
    destination_name: str
    address: str
    destination_json: str
    path: Path
    state: str
    attempts: int
    last_status: int | None
    last_message: str
    transfer_syntax: str
    owner: str
    created: float
    updated: float
    next_attempt: float | None

    @property
    def destination(self) -> Destination:
        """The destination as it was when queued: a retry does not depend on the config."""
        return destination_from_json(self.destination_json)


_COLUMNS = (
    "id, sop_instance_uid, sop_class_uid, study_instance_uid, patient_name, patient_id, "
    "series_description, destination, address, destination_json, file, state, attempts, "
    "last_status, last_message, transfer_syntax, owner, created, updated, next_attempt"
)


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
        try:
            self.instances.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.folder / DATABASE_NAME,
                timeout=busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except (OSError, sqlite3.Error) as error:
            raise OutboxError(f"cannot open the outbox in {self.folder}: {error}") from error
        try:
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise OutboxError(
                    f"the outbox in {self.folder} cannot use WAL mode ({mode}): "
                    "is it on a network share? Choose a folder on a local disk"
                )
            self._db.execute("PRAGMA synchronous = FULL")
            with self._write():
                self._create_schema()
        except BaseException:
            self._db.close()
            raise

    # -- plumbing ---------------------------------------------------------------------

    def _create_schema(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > _SCHEMA_VERSION:
            raise OutboxError(
                f"the outbox in {self.folder} was made by a newer napari-ezp2p "
                f"(schema {version}); upgrade to use it"
            )
        for statement in filter(str.strip, _SCHEMA.split(";")):
            self._db.execute(statement)
        self._db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    @contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (``BEGIN IMMEDIATE``) so it cannot deadlock.

        ``durable=False`` commits without fsync (``synchronous = NORMAL``): the change is
        safe from the process dying (it is in the WAL, which the OS keeps) but not from a
        power loss or OS crash before the next durable commit or checkpoint syncs the WAL.
        """
        with self._lock:
            if not durable:
                self._db.execute("PRAGMA synchronous = NORMAL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                if not durable:
                    self._db.execute("PRAGMA synchronous = FULL")

    def _select(self, where: str = "1", params: Sequence[object] = ()) -> list[Entry]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM entries WHERE {where} ORDER BY id", params
            ).fetchall()
        return [self._entry(row) for row in rows]

    def _entry(self, row: Sequence) -> Entry:
        values = list(row)
        values[10] = self.folder / values[10]
        return Entry(*values)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def path_for(self, sop_instance_uid: str) -> Path:
        """Where the Part 10 file of this instance lives."""
        if not _UID.match(sop_instance_uid) or len(sop_instance_uid) > 64:
            raise OutboxError(f"SOP Instance UID {sop_instance_uid!r} is not a valid UID")
        return self.instances / f"{sop_instance_uid}.dcm"

    # -- adding -----------------------------------------------------------------------

    def add(
        self,
        datasets: Iterable[Dataset | str | os.PathLike[str]],
        destinations: Iterable[Destination],
        *,
        now: float | datetime | None = None,
    ) -> list[int]:
        """Queue every object for every destination; the entry ids, per object then
        per destination.

        Objects are datasets or Part 10 files. Each is written to the outbox first
        (:meth:`write`); then all rows go in with one transaction (:meth:`insert`). An
        instance already queued (or sent) for a destination is not queued again: its
        existing id is returned.
        """
        destinations = list(destinations)
        if not destinations:
            raise OutboxError("no destination to queue for")
        written = [(obj, self.write(obj)) for obj in datasets]
        return self._insert(written, destinations, _timestamp(now))

    def write(self, obj: Dataset | str | os.PathLike[str]) -> Written:
        """Put one object's Part 10 file in the outbox (atomically, fsynced), no row yet.

        A Part 10 file whose meta agrees with its dataset is copied byte for byte, only
        its header read; other files, and datasets, are written by ``write_atomically``.
        Nothing is written when the instance's file is there already. Pass the result to
        :meth:`insert`: until then the file is an orphan that :meth:`recover` deletes
        after ``ORPHAN_GRACE``.
        """
        source = None if isinstance(obj, Dataset) else Path(obj)
        ds = obj if source is None else dcmread(source, stop_before_pixels=True)
        uid = str(ds.get("SOPInstanceUID", ""))
        if not uid:
            raise OutboxError("an object without a SOP Instance UID cannot be queued")
        path = self.path_for(uid)
        if not path.exists():
            self._write_file(obj, ds, path)
        return Written(
            uid,
            str(ds.get("SOPClassUID", "")),
            str(ds.get("StudyInstanceUID", "")),
            str(ds.get("PatientName", "")),
            str(ds.get("PatientID", "")),
            str(ds.get("SeriesDescription", "")),
            path,
            source,
        )

    def insert(
        self,
        written: Sequence[Written],
        destinations: Iterable[Destination],
        *,
        now: float | datetime | None = None,
    ) -> list[int]:
        """The rows of objects :meth:`write` put in the outbox, in one transaction; the
        entry ids, per object then per destination (as :meth:`add`)."""
        destinations = list(destinations)
        if not destinations:
            raise OutboxError("no destination to queue for")
        return self._insert([(None, w) for w in written], destinations, _timestamp(now))

    def _write_file(self, obj: object, ds: Dataset, path: Path) -> None:
        if isinstance(obj, Dataset):
            write_atomically(obj, path)
        elif _copyable(ds):
            _copy_atomically(Path(obj), path)
        else:
            write_atomically(dcmread(obj), path)

    def _insert(
        self,
        written: Sequence[tuple[object, Written]],
        destinations: Sequence[Destination],
        stamp: float,
    ) -> list[int]:
        _sync_folder(self.instances)  # the files' names are durable before their rows
        ids: list[int] = []
        with self._write() as db:
            for obj, item in written:
                if not item.path.exists():  # purged by another process since it was written
                    source = obj if isinstance(obj, Dataset) else item.source
                    if source is None:
                        raise OutboxError(
                            f"{item.sop_instance_uid}: its outbox file was removed meanwhile"
                        )
                    ds = source if isinstance(source, Dataset) else dcmread(source)
                    self._write_file(source, ds, item.path)
                for dest in destinations:
                    ids.append(self._insert_row(db, item, dest, stamp))
        return ids

    def _insert_row(
        self, db: sqlite3.Connection, item: Written, dest: Destination, stamp: float
    ) -> int:
        db.execute(
            "INSERT OR IGNORE INTO entries (sop_instance_uid, sop_class_uid, "
            "study_instance_uid, patient_name, patient_id, series_description, destination, "
            "address, destination_json, file, state, created, updated, next_attempt) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item.sop_instance_uid,
                item.sop_class_uid,
                item.study_instance_uid,
                item.patient_name,
                item.patient_id,
                item.series_description,
                dest.name,
                dest.address,
                destination_to_json(dest),
                item.path.relative_to(self.folder).as_posix(),
                QUEUED,
                stamp,
                stamp,
                stamp,
            ),
        )
        return db.execute(
            "SELECT id FROM entries WHERE sop_instance_uid = ? AND destination = ?",
            (item.sop_instance_uid, dest.name),
        ).fetchone()[0]

    # -- reading ----------------------------------------------------------------------

    def get(self, entry_id: int) -> Entry | None:
        found = self._select("id = ?", (entry_id,))
        return found[0] if found else None

    def list(
        self, states: Iterable[str] | None = None, destination: str | None = None
    ) -> list[Entry]:
        """The rows in these states (all if ``None``), for one destination name or all."""
        where, params = _filters(states, [destination] if destination else None)
        return self._select(where, params)

    def due(
        self,
        now: float | datetime | None = None,
        destinations: Iterable[str] | None = None,
    ) -> list[Entry]:
        """Queued and failed rows whose next attempt has come, oldest first."""
        where, params = _filters((QUEUED, FAILED), destinations)
        return self._select(f"{where} AND next_attempt <= ?", [*params, _timestamp(now)])

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
        owner = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        ids = list(entry_ids)
        with self._write() as db:
            for chunk in _chunks(ids):
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
        stamp = _timestamp(now)
        with self._write() as db:
            for entry_id in entry_ids:
                row = db.execute(
                    "SELECT attempts, state, owner FROM entries WHERE id = ?", (entry_id,)
                ).fetchone()
                if row is None or row[1] == SENT or (claim and row[2] != claim.owner):
                    continue
                db.execute(
                    "UPDATE entries SET state = ?, last_status = ?, last_message = ?, "
                    "owner = '', updated = ?, next_attempt = ? WHERE id = ?",
                    (FAILED, status, message, stamp, stamp + backoff_delay(row[0]), entry_id),
                )

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
        stamp = _timestamp(now)
        with self._write() as db:
            for entry_id in entry_ids:
                params: tuple = (QUEUED, message, stamp, stamp + backoff_delay(1), entry_id)
                extra = ""
                if claim:
                    extra, params = " AND owner = ?", (*params, claim.owner)
                db.execute(
                    "UPDATE entries SET state = ?, last_message = ?, owner = '', updated = ?, "
                    "next_attempt = ?, attempts = MAX(attempts - 1, 0) "
                    f"WHERE id = ? AND state = 'sending'{extra}",
                    params,
                )

    def retry(
        self, ids: Iterable[int] | None = None, *, now: float | datetime | None = None
    ) -> int:
        """Make failed rows (and queued ones waiting for a later attempt) due now.

        ``ids`` limits it to those rows. Returns how many rows changed.
        """
        stamp = _timestamp(now)
        where, params = "state IN (?, ?) AND next_attempt > ?", [QUEUED, FAILED, stamp]
        if ids is None:
            with self._write() as db:
                return db.execute(
                    f"UPDATE entries SET next_attempt = ?, updated = ? WHERE {where}",
                    (stamp, stamp, *params),
                ).rowcount
        changed = 0
        with self._write() as db:
            for chunk in _chunks(list(ids)):
                marks = ",".join("?" * len(chunk))
                changed += db.execute(
                    "UPDATE entries SET next_attempt = ?, updated = ? "
                    f"WHERE {where} AND id IN ({marks})",
                    (stamp, stamp, *params, *chunk),
                ).rowcount
        return changed

    # -- recovery and clean-up --------------------------------------------------------

    def recover(self, *, now: float | datetime | None = None) -> list[int]:
        """Take back rows left ``sending`` by a process that died; clean up orphans.

        A ``sending`` row returns to ``queued`` (due now, attempt kept) when its owner
        ran on this host and no longer runs, or when it has had no news for
        ``stale_after`` seconds whoever owns it (another host, a reused pid). Part 10
        files with no row and temporary files, older than ``ORPHAN_GRACE``, are
        deleted. Returns the ids taken back.
        """
        stamp = _timestamp(now)
        with self._lock:
            rows = self._db.execute(
                "SELECT id, owner, updated FROM entries WHERE state = ?", (SENDING,)
            ).fetchall()
        lost = [
            (entry_id, owner)
            for entry_id, owner, updated in rows
            if _owner_gone(owner) or updated < stamp - self.stale_after
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
        self._remove_orphans(time.time() - ORPHAN_GRACE)
        return taken

    def _known_files(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT DISTINCT file FROM entries")}

    def _remove_orphans(self, before: float) -> None:
        """Delete files no row refers to, last written before ``before``."""

        def old_orphans(known: set[str]) -> list[Path]:
            found = []
            for path in self.instances.iterdir():
                with suppress(OSError):
                    relative = path.relative_to(self.folder).as_posix()
                    if relative not in known and path.is_file() and path.stat().st_mtime < before:
                        found.append(path)
            return found

        if not old_orphans(self._known_files()):
            return
        with self._write():  # no add() can commit a row for them meanwhile
            for path in old_orphans(self._known_files()):
                with suppress(OSError):
                    path.unlink()

    def purge(
        self,
        states: Iterable[str] = (SENT,),
        older_than: float | None = None,
        *,
        destination: str | None = None,
        now: float | datetime | None = None,
    ) -> int:
        """Remove rows in ``states`` (last changed more than ``older_than`` seconds ago).

        A row being sent is never purged. An instance's file goes only when no row
        of any destination refers to it any more. Returns how many rows went.
        """
        states = [s for s in states if s != SENDING]
        if not states:
            return 0
        where, params = _filters(states, [destination] if destination else None)
        if older_than is not None:
            where, params = f"{where} AND updated < ?", [*params, _timestamp(now) - older_than]
        with self._write() as db:
            files = {r[0] for r in db.execute(f"SELECT file FROM entries WHERE {where}", params)}
            removed = db.execute(f"DELETE FROM entries WHERE {where}", params).rowcount
            for file in files:
                if db.execute("SELECT 1 FROM entries WHERE file = ? LIMIT 1", (file,)).fetchone():
                    continue
                with suppress(OSError):  # still open elsewhere: recover() gets it later
                    (self.folder / file).unlink()
        return removed


@dataclass(frozen=True)
class Written:
    """An instance whose file :meth:`Outbox.write` put in the outbox: what its rows say.

    ``source`` is the Part 10 file it came from (to copy again should the outbox file
    be purged before the rows go in), None for a dataset.
    """

    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    patient_name: str
    patient_id: str
    series_description: str
    path: Path
    source: Path | None = None


def _copyable(header: Dataset) -> bool:
    """A Part 10 file (preamble, meta) whose meta names its dataset's SOP class and
    instance: its bytes can go into the outbox, and to the PACS, as they are."""
    meta = getattr(header, "file_meta", None)
    return (
        getattr(header, "preamble", None) is not None
        and meta is not None
        and bool(meta.get("TransferSyntaxUID"))
        and meta.get("MediaStorageSOPClassUID") == header.get("SOPClassUID")
        and meta.get("MediaStorageSOPInstanceUID") == header.get("SOPInstanceUID")
    )


def _copy_atomically(source: Path, path: Path) -> None:
    """Copy ``source`` to ``path`` so that it appears whole (fsynced) or not at all."""
    with atomic_file(path) as out, source.open("rb") as stream:
        shutil.copyfileobj(stream, out, _COPY_BUFFER)


_COPY_BUFFER = 1 << 20


def _sync_folder(folder: Path) -> None:
    """fsync a folder, so that the files renamed into it stay after a power loss."""
    if os.name == "nt":
        return  # not possible there; NTFS journals its metadata
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Claim:
    """Rows one run holds as ``sending``: ``owner`` is ``host:pid:token``."""

    owner: str
    entries: list[Entry]

    @property
    def ids(self) -> list[int]:
        return [entry.id for entry in self.entries]


_HOST = socket.gethostname()


def _filters(
    states: Iterable[str] | None, destinations: Iterable[str] | None
) -> tuple[str, list[object]]:
    clauses, params = ["1"], []
    if states is not None:
        states = list(states)
        unknown = set(states) - set(STATES)
        if unknown:
            raise OutboxError(f"unknown state(s) {sorted(unknown)}: use {', '.join(STATES)}")
        clauses.append(f"state IN ({','.join('?' * len(states))})")
        params.extend(states)
    if destinations is not None:
        destinations = list(destinations)
        clauses.append(f"destination IN ({','.join('?' * len(destinations))})")
        params.extend(destinations)
    return " AND ".join(clauses), params


def _chunks(items: Sequence[int], size: int = 500) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _owner_gone(owner: str) -> bool:
    """Whether the process that claimed a row, on this host, has ended."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return True  # not a claim this version wrote: nobody can finish it
    host, pid = parts[0], int(parts[1])
    if host != _HOST:
        return False  # cannot tell; the stale_after lease decides
    return not pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (a zombie counts as ended)."""
    if pid <= 0:
        return False
    if os.name == "nt":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError as error:
        return error.errno != errno.ESRCH
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _windows_pid_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return kernel32.GetLastError() == 5  # access denied: it exists
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)
