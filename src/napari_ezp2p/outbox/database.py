"""The outbox's SQLite database: opening it, its write transactions, and its rows.

One table, ``entries``: a row is one (instance, destination) pair in one of
:data:`STATES`: ``rejected`` is final (the destination refused the object for good), the
others move on by themselves. The connection runs in WAL mode with ``synchronous=FULL``
and waits for a busy database; every write is one ``BEGIN IMMEDIATE`` transaction
(:func:`transaction`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from ..core.errors import Ezp2pError
from ..net.destination import Destination, TlsSettings
from .schedule import backoff_delay

if TYPE_CHECKING:
    from .files import Written

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
REJECTED = "rejected"
STATES = (QUEUED, SENDING, SENT, FAILED, REJECTED)

DATABASE_NAME = "outbox.sqlite3"

_SCHEMA_VERSION = 2
_TABLE = f"""
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
    state TEXT NOT NULL CHECK (state IN ({", ".join(f"'{state}'" for state in STATES)})),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_message TEXT NOT NULL DEFAULT '',
    transfer_syntax TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    next_attempt REAL,
    UNIQUE (sop_instance_uid, destination)
)"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS entries_due ON entries (state, next_attempt);
CREATE INDEX IF NOT EXISTS entries_destination ON entries (destination, state);
"""


class OutboxError(Ezp2pError):
    """An outbox that cannot be opened or an object it cannot hold (says which and why)."""


class DatabaseWriteError(OutboxError, sqlite3.OperationalError):
    """A write the database refused (a full disk, a read-only folder, a lock held too
    long): an OutboxError that says so, still the sqlite3 error it was."""


#: The database and its WAL and shared-memory files: patient names and IDs in clear, so
#: for this user alone, as the instance files are.
_DATABASE_FILES = (DATABASE_NAME, f"{DATABASE_NAME}-wal", f"{DATABASE_NAME}-shm")
_PRIVATE = 0o600
_ALMOST_FULL = 1 << 20  # bytes free


def open_database(folder: Path, busy_timeout: float) -> sqlite3.Connection:
    """A connection to the database in ``folder`` (created, with its schema, if need be),
    its files readable by this user alone.

    Raises OutboxError when it cannot be opened or written (a read-only folder, a full
    disk), cannot use WAL mode (a network share), or was made by a newer version.
    """
    try:
        _make_private(folder)
        db = sqlite3.connect(
            folder / DATABASE_NAME,
            timeout=busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
    except OSError as error:
        raise OutboxError(f"cannot open the outbox in {folder}: {error.strerror}") from error
    except sqlite3.Error as error:
        reason = _reason(error, folder)
        raise OutboxError(f"cannot open the outbox in {folder}: {reason}") from error
    try:
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise OutboxError(
                f"the outbox in {folder} cannot use WAL mode ({mode}): "
                "is it on a network share? Choose a folder on a local disk"
            )
        db.execute("PRAGMA synchronous = FULL")
        with transaction(db, threading.RLock()):
            _create_schema(db, folder)
    except sqlite3.Error as error:
        db.close()
        cause = error.__cause__ if isinstance(error, DatabaseWriteError) else error
        reason = _reason(cause, folder)
        raise OutboxError(f"cannot open the outbox in {folder}: {reason}") from error
    except BaseException:
        db.close()
        raise
    return db


def _reason(error: BaseException, folder: Path) -> str:
    """SQLite's words for ``error``, and whether the disk is full: SQLite may say only
    "disk I/O error" then."""
    try:
        full = shutil.disk_usage(folder).free < _ALMOST_FULL
    except OSError:
        full = False
    return f"{error} (the disk is full)" if full else str(error)


def _make_private(folder: Path) -> None:
    """Create the database file for this user alone (SQLite gives its WAL and
    shared-memory files the same mode), and take group and others off older files."""
    os.close(os.open(folder / DATABASE_NAME, os.O_RDWR | os.O_CREAT, _PRIVATE))
    for name in _DATABASE_FILES:
        path = folder / name
        with suppress(FileNotFoundError):
            if path.stat().st_mode & 0o077:
                path.chmod(_PRIVATE)


def _create_schema(db: sqlite3.Connection, folder: Path) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > _SCHEMA_VERSION:
        raise OutboxError(
            f"the outbox in {folder} was made by a newer napari-ezp2p "
            f"(schema {version}); upgrade to use it"
        )
    if version == 1:
        _states_of_version_2(db)
    db.execute(_TABLE)
    for statement in filter(str.strip, _INDEXES.split(";")):
        db.execute(statement)
    db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")


def _states_of_version_2(db: sqlite3.Connection) -> None:
    """Schema 1 to 2: the ``rejected`` state. SQLite cannot change a CHECK constraint,
    so the table is made again, its rows (and its id sequence) copied over."""
    db.execute("ALTER TABLE entries RENAME TO entries_v1")
    db.execute(_TABLE)
    db.execute("INSERT INTO entries SELECT * FROM entries_v1")
    db.execute(
        "UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence "
        "WHERE name = 'entries_v1') WHERE name = 'entries'"
    )
    db.execute("DROP TABLE entries_v1")  # and its indexes: made again for the new table


@contextmanager
def transaction(
    db: sqlite3.Connection, lock: threading.RLock, *, durable: bool = True
) -> Iterator[sqlite3.Connection]:
    """One write transaction, taken at once (``BEGIN IMMEDIATE``) so it cannot deadlock.

    ``durable=False`` commits without fsync (``synchronous = NORMAL``): the change is
    safe from the process dying (it is in the WAL, which the OS keeps) but not from a
    power loss or OS crash before the next durable commit or checkpoint syncs the WAL.
    """
    with lock:
        if not durable:
            db.execute("PRAGMA synchronous = NORMAL")
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # SQLite itself rolls back on a full disk
                    db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as error:
            if isinstance(error, DatabaseWriteError):
                raise
            raise DatabaseWriteError(f"cannot write to the outbox database: {error}") from error
        finally:
            if not durable:
                db.execute("PRAGMA synchronous = FULL")


def destination_to_json(destination: Destination) -> str:
    """The destination as a row keeps it (see :attr:`Entry.destination`)."""
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
    queued or failed row is due, ``None`` once sent or rejected (``last_message`` says
    why, ``last_status`` with which status, if any).
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


COLUMNS = (
    "id, sop_instance_uid, sop_class_uid, study_instance_uid, patient_name, patient_id, "
    "series_description, destination, address, destination_json, file, state, attempts, "
    "last_status, last_message, transfer_syntax, owner, created, updated, next_attempt"
)


@dataclass(frozen=True)
class Claim:
    """Rows one run holds as ``sending``: ``owner`` is a :func:`~.owners.new_owner`."""

    owner: str
    entries: list[Entry]

    @property
    def ids(self) -> list[int]:
        return [entry.id for entry in self.entries]


def insert_row(
    db: sqlite3.Connection, item: Written, dest: Destination, file: PurePath, stamp: float
) -> int:
    """Queue ``item`` (its file at ``file`` in the outbox folder) for ``dest``, due now;
    the row's id, the existing one's if it is queued (or sent) for ``dest`` already."""
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
            file.as_posix(),
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


def queue_again(db: sqlite3.Connection, item: Written, stamp: float) -> None:
    """Every row of a replaced instance (but one being sent) waits again, due now."""
    db.execute(
        "UPDATE entries SET state = ?, sop_class_uid = ?, study_instance_uid = ?, "
        "patient_name = ?, patient_id = ?, series_description = ?, attempts = 0, "
        "last_status = NULL, last_message = ?, transfer_syntax = '', owner = '', "
        "updated = ?, next_attempt = ? WHERE sop_instance_uid = ? AND state != ?",
        (
            QUEUED,
            item.sop_class_uid,
            item.study_instance_uid,
            item.patient_name,
            item.patient_id,
            item.series_description,
            "replaced by another object with this SOP Instance UID",
            stamp,
            stamp,
            item.sop_instance_uid,
            SENDING,
        ),
    )


def end_attempt(
    db: sqlite3.Connection,
    entry_id: int,
    state: str,
    message: str,
    status: int | None,
    owner: str | None,
    stamp: float,
) -> None:
    """End the attempt of row ``entry_id`` at ``stamp``: ``failed``, due again after the
    backoff of its attempts, or ``rejected``, never due. A row sent meanwhile, or no
    longer held by ``owner`` (when given), stays as it is."""
    row = db.execute(
        "SELECT attempts, state, owner FROM entries WHERE id = ?", (entry_id,)
    ).fetchone()
    if row is None or row[1] == SENT or (owner is not None and row[2] != owner):
        return
    due = stamp + backoff_delay(row[0]) if state == FAILED else None
    db.execute(
        "UPDATE entries SET state = ?, last_status = ?, last_message = ?, "
        "owner = '', updated = ?, next_attempt = ? WHERE id = ?",
        (state, status, message, stamp, due, entry_id),
    )


def give_back(
    db: sqlite3.Connection, entry_id: int, message: str, owner: str | None, stamp: float
) -> None:
    """Row ``entry_id``, being sent (by ``owner`` when given) but never offered: back to
    ``queued`` with ``message``, due after the first backoff step, its attempt given back."""
    params: tuple = (QUEUED, message, stamp, stamp + backoff_delay(1), entry_id)
    extra = ""
    if owner is not None:
        extra, params = " AND owner = ?", (*params, owner)
    db.execute(
        "UPDATE entries SET state = ?, last_message = ?, owner = '', updated = ?, "
        "next_attempt = ?, attempts = MAX(attempts - 1, 0) "
        f"WHERE id = ? AND state = 'sending'{extra}",
        params,
    )


def make_due(
    db: sqlite3.Connection, stamp: float, rejected: bool, ids: Sequence[int] | None = None
) -> int:
    """Make the failed rows, and the queued ones waiting for later, due at ``stamp`` (of
    ``ids`` when given); with ``rejected``, the rejected ones too, queued again. Returns
    how many rows changed."""
    where, params = "(state IN (?, ?) AND next_attempt > ?)", [QUEUED, FAILED, stamp]
    if rejected:
        where, params = f"({where} OR state = ?)", [*params, REJECTED]
    if ids is not None:
        where, params = f"{where} AND id IN ({','.join('?' * len(ids))})", [*params, *ids]
    return db.execute(
        "UPDATE entries SET next_attempt = ?, updated = ?, "
        f"state = CASE state WHEN '{REJECTED}' THEN '{QUEUED}' ELSE state END WHERE {where}",
        (stamp, stamp, *params),
    ).rowcount


def delete_rows(
    db: sqlite3.Connection,
    folder: Path,
    where: str,
    params: Sequence[object],
    ids: Sequence[int] | None = None,
) -> int:
    """Delete the rows ``where`` says (of ``ids`` when given), and the files in the
    outbox ``folder`` no row refers to any more; how many rows went."""
    if ids is not None:
        where, params = f"{where} AND id IN ({','.join('?' * len(ids))})", [*params, *ids]
    files = {r[0] for r in db.execute(f"SELECT file FROM entries WHERE {where}", params)}
    removed = db.execute(f"DELETE FROM entries WHERE {where}", params).rowcount
    for file in files:
        if db.execute("SELECT 1 FROM entries WHERE file = ? LIMIT 1", (file,)).fetchone():
            continue
        with suppress(OSError):  # still open elsewhere: recover() gets it later
            (folder / file).unlink()
    return removed


def row_filter(
    states: Iterable[str] | None, destinations: Iterable[str] | None
) -> tuple[str, list[object]]:
    """A WHERE clause and its parameters for rows in ``states`` for ``destinations``
    (names; None for any)."""
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


def chunks(items: Sequence[int], size: int = 500) -> Iterator[Sequence[int]]:
    """``items`` in slices small enough for one ``IN (...)`` clause."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
