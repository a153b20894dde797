"""One store's objects over one or several associations, and what became of each.

Each association takes the next object when it is ready for one. One object's failure is
that object's alone: after a failure status we abort the association (the
specification's "abort on non-success"), a peer may abort it or not answer; the objects
left go on over a fresh association. A transfer gives up on its destination after
``MAX_FRUITLESS`` associations in a row that ended with nothing stored, so that a peer
that aborts every association does not make it loop.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydicom.uid import UID
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext

from .association import NetworkError, Session, name_of, release
from .destination import Destination, NetworkSettings

log = logging.getLogger(__name__)

SUCCESS = "success"
WARNING = "warning"
FAILURE = "failure"  # it did not go this time: worth another attempt later
REJECTED = "rejected"  # refused for good: the same object would be refused again
NOT_SENT = "not sent"
#: Associations in a row that may end with nothing stored before a transfer gives up on
#: its destination (a peer that aborts every association: nothing stored, no loop).
MAX_FRUITLESS = 3
#: Associations the peer aborted while receiving an object, before it stored any: each may
#: be that object's own fault, so more are allowed (once it has stored one, it takes us,
#: and such aborts never end the transfer).
MAX_ABORTED_OBJECTS = 10
#: The categories of an object the peer has, and of one it does not.
KEPT = (SUCCESS, WARNING)
UNSTORED = (FAILURE, REJECTED)


class Item(Protocol):
    """An object to send, as the transfer sees it (see ``store._Item``)."""

    @property
    def index(self) -> int: ...

    @property
    def sop_class(self) -> UID: ...

    @property
    def sop_instance(self) -> UID: ...

    @property
    def path(self) -> str: ...


@dataclass(frozen=True)
class ObjectOutcome:
    """What became of one object: ``category`` is success, warning, failure (worth
    another attempt), rejected (refused for good) or not sent;
    ``status`` the C-STORE response status (None when there was none); ``transfer_syntax``
    the UID it was sent in ("" when not sent); ``source`` its file path, if any."""

    index: int
    sop_instance_uid: str
    category: str
    status: int | None
    message: str
    transfer_syntax: str = ""
    source: str = ""


@dataclass(frozen=True)
class StoreProgress:
    """A progress report: ``done`` objects have an outcome (``outcome`` is the latest, None
    for a bytes-only update), of ``total``; ``bytes_sent`` counts every byte written to the
    socket on this association (PDU headers and command sets included)."""

    destination: Destination
    done: int
    total: int
    bytes_sent: int
    outcome: ObjectOutcome | None = None


#: ``send_one(association, session, item, accepted syntaxes by SOP class)``: the outcome
#: of sending ``item`` over the association, None when the association ended before it
#: went. An outcome with a ``transfer_syntax`` went on the wire.
SendOne = Callable[[Association, Session, Item, dict[UID, set[UID]]], ObjectOutcome | None]


class Transfer:
    """The objects of one :func:`store`, shared by its associations: each takes the next
    object when it is ready for one; one whose association ends goes on over a fresh one
    while objects are left (see :meth:`_carry_on`)."""

    def __init__(
        self,
        dest: Destination,
        settings: NetworkSettings,
        items: Sequence[Item],
        total: int,
        progress: Callable[[StoreProgress], None] | None,
        send_one: SendOne,
    ) -> None:
        self.send_one = send_one
        self.dest = dest
        self.settings = settings
        self.pending = deque(items)
        self.total = total
        self.progress = progress
        self.done = total - len(items)  # the unreadable ones already have their outcome
        self.outcomes: list[ObjectOutcome] = []
        self.sessions: list[Session] = []
        self.refusals: list[str] = []  # why associations could not be established
        self.no_context = False  # an association refused for want of any context we proposed
        self.fruitless = 0  # associations in a row that ended with nothing stored
        self.aborted_objects = 0  # ... because the peer aborted an object it was receiving
        self.stored_any = False
        self.gave_up = ""  # why the rest is not sent ("" while the transfer goes on)
        self.halted = False
        self.crash: BaseException | None = None  # an unexpected error in another thread
        self.error = ""
        self.lock = threading.RLock()
        self.in_hand = 0  # objects being sent right now
        self.working = 0  # associations established and sending (or opening a fresh one)
        self.changed = threading.Condition(self.lock)
        self.finished = False  # late associations take and report nothing more

    @property
    def bytes_sent(self) -> int:
        return sum(session.bytes_sent for session in self.sessions)

    def run(self, contexts: list[PresentationContext], associations: int) -> None:
        """Send over up to ``associations`` associations: the first in this thread, the
        others once it is established (a peer that limits how many it takes would refuse
        them all when they come at once); then mark what is left "not sent" and say why
        in ``error``.

        Once this thread is done it waits for the objects in other hands, and for the
        associations still sending while objects are left, not for associations still
        being opened (a peer may leave them unanswered until its first is released, or
        until our ACSE timeout).
        """
        first = self._open(contexts)
        for n in range(1, associations if first else 0):
            name = f"ezp2p-store-{n}"
            threading.Thread(target=self._other, args=(contexts,), name=name, daemon=True).start()
        try:
            if first:
                self._work(first, contexts)
        except BaseException:
            self.halted = True  # the others stop after their current object
            raise
        finally:
            with self.changed:
                self.changed.wait_for(self._idle)
                self.finished = True
        if self.crash is not None:
            raise self.crash
        if self.refusals and first:
            log.info(
                "%s: %d more associations refused: %s",
                self.dest.name,
                len(self.refusals),
                self.refusals[0],
            )
        with self.lock:
            if self.pending:
                self.error = self.gave_up or self.refusals[-1]  # a fresh one failed
                self.outcomes.extend(self._left(self.pending))
            self.pending.clear()

    def _idle(self) -> bool:
        """Nothing in hand, and nobody going to take what is left."""
        done = not self.pending or not self.working or self.gave_up or self.halted
        return self.in_hand == 0 and bool(done)

    def _left(self, items: Sequence[Item]) -> list[ObjectOutcome]:
        """What is left when the transfer ends: rejected when the peer accepted none of
        the contexts (it takes no object of these classes), else not sent."""
        if self.no_context and not self.gave_up:
            return [no_context(item, self.dest) for item in items]
        return not_sent(items, f"not sent: {self.error}")

    def _other(self, contexts: list[PresentationContext]) -> None:
        try:
            opened = self._open(contexts)
            if opened:
                self._work(opened, contexts)
        except BaseException as error:  # noqa: BLE001 - raised again by run()
            self.crash, self.halted = error, True

    def _work(self, opened: tuple[Association, Session], contexts: list[PresentationContext]):
        """Send over ``opened``, then over fresh associations while :meth:`_carry_on` says so."""
        with self.lock:
            self.working += 1
        try:
            current: tuple[Association, Session] | None = opened
            while current is not None:
                stored, ending = self._send_over(*current)
                aborted = _peer_aborted_the_object(ending, current[1])
                current = self._open(contexts) if self._carry_on(stored, ending, aborted) else None
        finally:
            with self.changed:
                self.working -= 1
                self.changed.notify_all()

    def _carry_on(self, stored: int, ending: ObjectOutcome | None, aborted: bool) -> bool:
        """Whether to open a fresh association for what is left, after one that ended
        having stored ``stored`` objects (``ending``: the outcome that ended it;
        ``aborted``: the peer aborted it while receiving that object).

        Gives up after ``MAX_FRUITLESS`` associations in a row that stored nothing, or,
        before the peer stored anything, ``MAX_ABORTED_OBJECTS`` it aborted while
        receiving an object (a peer that aborts on some objects, as dcmtk on a malformed
        one, takes the others; one that aborts every first object, as Orthanc for an AE
        it does not know, is given up on)."""
        with self.lock:
            if self.finished or self.halted or self.gave_up or not self.pending:
                return False
            if stored:
                self.fruitless = self.aborted_objects = 0
                self.stored_any = True
            elif ending is not None and ending.category == REJECTED:
                pass
            elif aborted:
                if not self.stored_any:
                    self.aborted_objects += 1
                    return self._still_trying(self.aborted_objects, MAX_ABORTED_OBJECTS, ending)
            else:
                self.fruitless += 1
                return self._still_trying(self.fruitless, MAX_FRUITLESS, ending)
            return True

    def _still_trying(self, count: int, most: int, ending: ObjectOutcome | None) -> bool:
        """False, saying why in ``gave_up``, once ``count`` reaches ``most``."""
        if count < most:
            return True
        why = ending.message if ending else "the association ended"
        self.gave_up = (
            f"{name_of(self.dest)}: {count} associations in a row stored nothing, "
            f"the last time: {why}"
        )
        return False

    def _open(self, contexts: list[PresentationContext]) -> tuple[Association, Session] | None:
        session = Session(self.dest, self.settings)
        session.on_bytes = lambda sent: self._tell(None)
        with self.lock:
            session.answered_before = any(earlier.answers for earlier in self.sessions)
            self.sessions.append(session)
        try:
            return session.open(contexts), session
        except NetworkError as error:
            with self.lock:
                self.refusals.append(str(error))
                self.no_context = self.no_context or _refused_every_context(session)
            return None

    def _send_over(self, assoc: Association, session: Session) -> tuple[int, ObjectOutcome | None]:
        """Send objects over ``assoc`` while it lasts: we abort it after a failure status
        (the specification's "abort on non-success"), the peer may abort it. Returns how
        many it stored and the outcome that ended it (None: nothing did)."""
        accepted: dict[UID, set[UID]] = {}
        for cx in assoc.accepted_contexts:
            accepted.setdefault(UID(cx.abstract_syntax), set()).add(UID(cx.transfer_syntax[0]))
        stored = 0
        try:
            while assoc.is_established and (item := self._next()) is not None:
                try:
                    outcome = self.send_one(assoc, session, item, accepted)
                    if outcome is None:  # the association ended before it went
                        with self.lock:
                            self.pending.appendleft(item)
                        return stored, None
                    self._record(outcome)
                finally:
                    with self.changed:
                        self.in_hand -= 1
                        self.changed.notify_all()
                stored += outcome.category in KEPT
                if outcome.category in UNSTORED and outcome.transfer_syntax:
                    # it went, and a failure status or no answer came back
                    if assoc.is_established:
                        assoc.abort()
                    return stored, outcome
                if not assoc.is_established:
                    return stored, outcome
            return stored, None
        finally:
            release(assoc)

    def _next(self) -> Item | None:
        with self.lock:
            if self.halted or self.finished or self.gave_up or not self.pending:
                return None
            self.in_hand += 1
            return self.pending.popleft()

    def _record(self, outcome: ObjectOutcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)
            self.done += 1
            self._tell(outcome)

    def _tell(self, outcome: ObjectOutcome | None) -> None:
        if self.progress is not None and not self.finished:
            with self.lock:
                self.progress(
                    StoreProgress(self.dest, self.done, self.total, self.bytes_sent, outcome)
                )


def _refused_every_context(session: Session) -> bool:
    """The association was not made because the peer accepted none of our contexts."""
    assoc = session.assoc
    return bool(
        assoc is not None
        and not assoc.is_rejected
        and not session.timed_out
        and not session.peer_abort
        and assoc.rejected_contexts
        and not assoc.accepted_contexts
    )


def no_context(item: Item, dest: Destination) -> ObjectOutcome:
    message = f"{dest.name} accepted no presentation context for {item.sop_class.name}"
    return ObjectOutcome(
        item.index, str(item.sop_instance), REJECTED, None, message, "", item.path
    )


def not_sent(items: Sequence[Item], message: str) -> list[ObjectOutcome]:
    return [
        ObjectOutcome(i.index, str(i.sop_instance), NOT_SENT, None, message, "", i.path)
        for i in items
    ]


def _peer_aborted_the_object(ending: ObjectOutcome | None, session: Session) -> bool:
    """Whether the peer aborted the association while receiving the object that ended
    it: that object went, no response came, and the peer (not a timeout) ended it."""
    return (
        ending is not None
        and ending.status is None
        and bool(ending.transfer_syntax)
        and bool(session.ended_by_peer())
    )
