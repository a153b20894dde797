"""Drain the outbox: send what is due, one transfer per destination, and record it.

The runner knows nothing of networking: for each destination it asks ``senders`` for
the :class:`Sender` of that destination's kind ("send these Part 10 files to this
destination, tell me what became of each instance"); :func:`napari_ezp2p.net.transports.senders`
gives the real ones (DIMSE C-STORE today).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ..core.errors import Ezp2pError
from ..net.destination import Destination
from .database import Claim, Entry
from .queue import Outbox

log = logging.getLogger(__name__)

SUCCESS = "success"
WARNING = "warning"
FAILURE = "failure"  # worth another attempt: the row backs off
REJECTED = "rejected"  # refused for good: the row is rejected, not retried by itself
NOT_SENT = "not sent"
CATEGORIES = (SUCCESS, WARNING, FAILURE, REJECTED, NOT_SENT)
#: The categories that mean the destination has the instance.
KEPT = (SUCCESS, WARNING)

#: ``progress(destination name, instances done, instances in the batch)``, from a worker thread.
RunProgress = Callable[[str, int, int], None]


class Outcome(Protocol):
    """What became of one instance: ``category`` is one of ``CATEGORIES``."""

    @property
    def sop_instance_uid(self) -> str: ...

    @property
    def status(self) -> int | None: ...

    @property
    def category(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def transfer_syntax(self) -> str: ...


#: ``progress(instances done, instances in the batch, outcome of the latest or None)``.
SenderProgress = Callable[[int, int, Outcome | None], None]
#: ``on_bytes(SOP Instance UID, bytes of its data set sent, its size)``, from a worker thread.
SenderBytes = Callable[[str, int, int], None]
#: ``on_bytes(destination name, entry, bytes of its data set sent, its size)``.
RunBytes = Callable[[str, Entry, int, int], None]


class Sender(Protocol):
    """Send the files of ``entries`` (in order) to ``destination``.

    Returns one outcome per instance: ``"failure"`` for one worth another attempt,
    ``"rejected"`` for one the destination refused for good. Instances it did not offer
    (no association, or the transfer gave up) are ``"not sent"`` or simply missing. Raises
    when nothing could be sent at all (no association). May call ``progress(done,
    total, outcome)`` as each instance completes: an instance reported stored there is
    recorded ``sent`` at once, so a crash later in the batch does not send it again (a
    power loss may: the marks do not wait for the disk, see :meth:`Outbox.mark_sent`).
    May call ``on_bytes`` (passed only when someone listens) as an instance's bytes go.
    """

    def __call__(
        self,
        entries: Sequence[Entry],
        destination: Destination,
        *,
        progress: SenderProgress | None = None,
        on_bytes: SenderBytes | None = None,
    ) -> Iterable[Outcome]: ...


@dataclass(frozen=True)
class SendOutcome:
    """A plain :class:`Outcome`."""

    sop_instance_uid: str
    status: int | None
    category: str
    message: str = ""
    transfer_syntax: str = ""


@dataclass(frozen=True)
class Failure:
    """An instance that did not reach its destination this run, and why."""

    entry_id: int
    sop_instance_uid: str
    category: str  # "failure", "rejected" or "not sent"
    status: int | None
    reason: str


@dataclass
class DestinationRun:
    """One destination's share of a run. ``sent`` includes the ``warnings``."""

    name: str
    address: str
    sent: int = 0
    warnings: int = 0
    failed: int = 0
    rejected: int = 0
    not_sent: int = 0
    error: str = ""
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.failed or self.rejected or self.not_sent or self.error)


@dataclass
class RunSummary:
    """Per destination counts and failures; ``recovered`` are rows taken back from a
    process that died while sending."""

    destinations: dict[str, DestinationRun] = field(default_factory=dict)
    recovered: list[int] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(run.sent for run in self.destinations.values())

    @property
    def failed(self) -> int:
        return sum(run.failed for run in self.destinations.values())

    @property
    def rejected(self) -> int:
        return sum(run.rejected for run in self.destinations.values())

    @property
    def not_sent(self) -> int:
        return sum(run.not_sent for run in self.destinations.values())

    @property
    def ok(self) -> bool:
        return all(run.ok for run in self.destinations.values())


#: The sender for a destination: the one of its kind.
Senders = Callable[[Destination], Sender]


def send_due(
    outbox: Outbox,
    senders: Senders,
    *,
    destinations: Iterable[str] | None = None,
    progress: RunProgress | None = None,
    on_bytes: RunBytes | None = None,
    now: float | datetime | None = None,
    max_workers: int = 4,
) -> RunSummary:
    """Send every due row, one transfer per destination, destinations in parallel.

    First takes back rows a dead process left ``sending`` (:meth:`Outbox.recover`).
    Each destination's rows are claimed (``sending``), handed in id order to the
    sender ``senders`` gives for that destination,
    then marked ``sent`` (success or warning, with the status), ``failed`` (with the
    status and a backoff), ``rejected`` (refused for good, with the reason and status:
    never due again by itself) or, when never offered, ``queued`` again with the reason.
    A row whose file is missing is rejected.
    An exception from the sender (or from ``senders``: an unknown kind) fails the
    whole batch with its message. Files stay. ``on_bytes`` follows each instance's
    bytes as they go, when its sender tells them.
    """
    summary = RunSummary(recovered=outbox.recover())  # leases run on the real clock
    batches: dict[str, dict[str, list[Entry]]] = {}
    for entry in outbox.due(now, destinations):
        by_config = batches.setdefault(entry.destination_name, {})
        by_config.setdefault(entry.destination_json, []).append(entry)
    if not batches:
        return summary

    def run(name: str) -> DestinationRun:
        groups = list(batches[name].values())
        result = DestinationRun(name, groups[0][0].address)
        for entries in groups:
            _send_batch(outbox, senders, entries, result, progress, on_bytes, now)
        return result

    names = sorted(batches)
    if len(names) == 1 or max_workers <= 1:
        runs = [run(name) for name in names]
    else:
        with ThreadPoolExecutor(min(max_workers, len(names)), "ezp2p-outbox") as pool:
            runs = list(pool.map(run, names))
    summary.destinations = {run.name: run for run in runs}
    return summary


def _send_batch(
    outbox: Outbox,
    senders: Senders,
    entries: list[Entry],
    result: DestinationRun,
    progress: RunProgress | None,
    on_bytes: RunBytes | None,
    now: float | datetime | None,
) -> None:
    claim = outbox.claim([entry.id for entry in entries], now=now)
    if not claim.entries:
        return
    pending = {entry.id: entry for entry in claim.entries}
    try:
        missing = [entry for entry in claim.entries if not entry.path.is_file()]
        if missing:
            reason = "the outbox file is missing"
            outbox.mark_rejected([e.id for e in missing], reason, claim=claim, now=now)
            for entry in missing:
                del pending[entry.id]
                result.rejected += 1
                result.failures.append(
                    Failure(entry.id, entry.sop_instance_uid, REJECTED, None, reason)
                )
        if not pending:
            return
        batch = list(pending.values())
        by_uid = {entry.sop_instance_uid: entry for entry in batch}
        stored: set[int] = set()  # recorded as sent the moment the PACS said so
        last = [(-1, -1)]

        def report(done: int, total: int, outcome: Outcome | None = None) -> None:
            entry = by_uid.get(str(outcome.sop_instance_uid)) if outcome is not None else None
            if entry is not None and entry.id not in stored and outcome.category in KEPT:
                _mark_sent(outbox, entry, outcome, now)
                stored.add(entry.id)
            if progress is not None and last[0] != (done, total):
                last[0] = (done, total)
                progress(result.name, done, total)

        report(0, len(batch))
        listening = {}
        if on_bytes is not None:
            listening["on_bytes"] = lambda uid, sent, size: on_bytes(
                result.name, by_uid[uid], sent, size
            )
        try:
            destination = batch[0].destination
            with _Heartbeat(outbox, claim):
                send = senders(destination)
                outcomes = list(send(batch, destination, progress=report, **listening))
            if not stored and outcomes and all(o.category == NOT_SENT for o in outcomes):
                # Nothing was offered at all (no association): a failed attempt, not a skip.
                raise _NothingSent(_strip_not_sent(outcomes[0].message))
        except Exception as error:  # noqa: BLE001 - any sender error fails the batch, kept
            reason = str(error) if isinstance(error, _NothingSent) else _describe(error)
            log.warning("sending to %s failed: %s", result.name, reason)
            result.error = reason
            unsent = [entry for entry in batch if entry.id not in stored]
            outbox.mark_failed([e.id for e in unsent], reason, claim=claim, now=now)
            result.sent += len(stored)
            result.failed += len(unsent)
            for entry in unsent:
                result.failures.append(
                    Failure(entry.id, entry.sop_instance_uid, FAILURE, None, reason)
                )
            pending.clear()
            return
        _record(outbox, claim, batch, outcomes, stored, result, now)
        pending.clear()
        report(len(batch), len(batch))
    finally:
        if pending:  # interrupted (KeyboardInterrupt, database error): try again later
            outbox.mark_not_sent(list(pending), "interrupted while sending", claim=claim)


def _mark_sent(
    outbox: Outbox, entry: Entry, outcome: Outcome, now: float | datetime | None
) -> None:
    outbox.mark_sent(entry.id, outcome.status, outcome.message, outcome.transfer_syntax, now=now)


def _record(
    outbox: Outbox,
    claim: Claim,
    batch: list[Entry],
    outcomes: list[Outcome],
    stored: set[int],
    result: DestinationRun,
    now: float | datetime | None,
) -> None:
    by_uid = {str(o.sop_instance_uid): o for o in outcomes if o.sop_instance_uid}
    # An object the sender could not even read has no UID: it says which by its index.
    by_index = {o.index: o for o in outcomes if not o.sop_instance_uid and hasattr(o, "index")}
    not_sent: list[Entry] = []
    reasons: dict[int, str] = {}
    for position, entry in enumerate(batch):
        outcome = by_uid.get(entry.sop_instance_uid) or by_index.get(position)
        category = outcome.category if outcome else NOT_SENT
        if category in KEPT:
            if entry.id not in stored:
                _mark_sent(outbox, entry, outcome, now)
            result.sent += 1
            result.warnings += category == WARNING
        elif entry.id in stored:
            result.sent += 1  # the sender reported it stored, then changed its mind
        elif category in (FAILURE, REJECTED):
            reason = outcome.message or _status_text(outcome.status)
            mark = outbox.mark_failed if category == FAILURE else outbox.mark_rejected
            mark([entry.id], reason, outcome.status, claim=claim, now=now)
            result.failed += category == FAILURE
            result.rejected += category == REJECTED
            result.failures.append(
                Failure(entry.id, entry.sop_instance_uid, category, outcome.status, reason)
            )
        else:
            reason = "not sent: " + (
                _strip_not_sent(outcome.message) if outcome else "the sender gave no outcome"
            )
            not_sent.append(entry)
            reasons[entry.id] = reason
    for entry in not_sent:
        outbox.mark_not_sent([entry.id], reasons[entry.id], claim=claim, now=now)
        result.not_sent += 1
        result.failures.append(
            Failure(entry.id, entry.sop_instance_uid, NOT_SENT, None, reasons[entry.id])
        )


class _NothingSent(Exception):
    """The sender offered none of the batch: the reason of the first."""


def _strip_not_sent(message: str) -> str:
    return message.removeprefix("not sent").lstrip(": ") or "no association"


def _describe(error: Exception) -> str:
    if isinstance(error, Ezp2pError) and str(error):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _status_text(status: int | None) -> str:
    return "failed" if status is None else f"failed with status 0x{status:04X}"


class _Heartbeat:
    """Refreshes a claim every ``interval`` seconds while a batch is being sent, so a
    long send is not mistaken for a dead one by another process."""

    def __init__(self, outbox: Outbox, claim: Claim) -> None:
        self._outbox = outbox
        self._claim = claim
        self._interval = max(1.0, min(60.0, outbox.stale_after / 4))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="ezp2p-heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._outbox.heartbeat(self._claim)
            except sqlite3.Error as error:
                log.warning("outbox heartbeat failed: %s", error)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
