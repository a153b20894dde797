"""What the Outbox dock shows and does, without Qt: the outbox's rows as the table shows
them, whether they changed, and retry, purge and open on them.

Every function here blocks (disk, network): the dock calls them off the event loop.
The states are the outbox's own (:data:`napari_ezp2p.outbox.STATES`), so a state it
gains later shows and filters with no change here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..jobs.report import SendReport
from ..outbox import SENDING, STATES, Entry, Outbox
from ..outbox.watch import Fingerprint, fingerprint

#: The states the dock filters by, in the outbox's order.
FILTER_STATES: tuple[str, ...] = STATES
#: The states a purge may remove: all but a row being sent.
PURGEABLE: tuple[str, ...] = tuple(state for state in STATES if state != SENDING)


@dataclass(frozen=True)
class OutboxRow:
    """One outbox entry as a table row: what went where, when, and how it stands."""

    entry_id: int
    when: str
    destination: str
    address: str
    patient: str
    description: str
    study_instance_uid: str
    sop_instance_uid: str
    state: str
    reason: str
    attempts: int
    path: Path

    @classmethod
    def of(cls, entry: Entry) -> OutboxRow:
        patient = entry.patient_name.replace("^", " ").strip()
        if entry.patient_id:
            patient = f"{patient} ({entry.patient_id})" if patient else entry.patient_id
        when = datetime.fromtimestamp(entry.updated).strftime("%Y-%m-%d %H:%M:%S")
        return cls(
            entry.id,
            when,
            entry.destination_name,
            entry.address,
            patient,
            entry.series_description or entry.path.name,
            entry.study_instance_uid,
            entry.sop_instance_uid,
            entry.state,
            entry.last_message,
            entry.attempts,
            entry.path,
        )


def current_folder() -> Path:
    """The outbox folder every face uses now (``$EZP2P_OUTBOX``, the config, the default)."""
    from ..config import load_user_config, outbox_folder

    return outbox_folder(load_user_config())


def outbox_rows(folder: str | Path, states: Iterable[str] | None = None) -> list[OutboxRow]:
    """The outbox's rows in ``states`` (all when None), the latest first; none when the
    outbox has not been made yet."""
    if fingerprint(folder) is None:
        return []
    with Outbox(folder) as outbox:
        entries = outbox.list(states)
    return [OutboxRow.of(entry) for entry in reversed(entries)]


@dataclass(frozen=True)
class Snapshot:
    """The outbox at one poll: its folder, its fingerprint, and its rows when they were
    read (None: unchanged since the fingerprint the poll was given)."""

    folder: Path
    seen: Fingerprint | None
    rows: list[OutboxRow] | None


def poll(seen: Fingerprint | None, *, force: bool = False) -> Snapshot:
    """The current outbox, its rows read again only when it changed since ``seen`` (or
    ``force``): cheap enough to call every second."""
    folder = current_folder()
    now = fingerprint(folder)
    if now == seen and not force:
        return Snapshot(folder, now, None)
    return Snapshot(folder, now, outbox_rows(folder))


def retry_entries(entry_ids: Sequence[int] | None, *, rejected: bool = False) -> SendReport:
    """Send again the waiting entries (only ``entry_ids`` when given), each to the
    destination it was queued for; the rejected ones only with ``rejected``: what
    ``ezp2p queue retry [--rejected]`` does."""
    from ..config import load_user_config, outbox_folder
    from ..jobs.send import retry

    config = load_user_config()
    return retry(outbox_folder(config), config.network, entry_ids=entry_ids, rejected=rejected)


def purge_entries(entry_ids: Sequence[int] | None, states: Iterable[str] = PURGEABLE) -> int:
    """Remove the entries in ``states`` (only ``entry_ids`` when given; never one being
    sent) and the files no entry needs any more; how many went."""
    with Outbox(current_folder()) as outbox:
        return outbox.purge(states, ids=entry_ids)


def read_entry(row: OutboxRow) -> list[tuple]:
    """The layer data of the row's object, read by our reader from its outbox file."""
    from .reader import read_layers

    return read_layers(row.path)
