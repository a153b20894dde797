"""What a send or a retry did: one row per item and destination, rendered the same way
by every face (the command's lines, the Send dock's table, the notifications)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..outbox import REJECTED, SENT, Entry, RunSummary

WARNING = "warning"
FAILED = "failed"
#: States of a row whose instance the destination has.
DELIVERED = (SENT, WARNING)


@dataclass(frozen=True)
class Row:
    """One item at one destination: ``state`` is an outbox state (queued, sending, sent,
    failed, rejected: refused for good), ``warning`` for one stored with a warning
    status, or ``failed`` for an item that never became an object (then ``entry_id`` is
    None). ``address`` is the destination's ``AET@host:port``."""

    label: str
    destination: str
    state: str
    message: str = ""
    entry_id: int | None = None
    sop_instance_uid: str = ""
    address: str = ""

    @property
    def delivered(self) -> bool:
        return self.state in DELIVERED

    @property
    def rejected(self) -> bool:
        """Refused for good: in the outbox, but not retried unless asked to."""
        return self.state == REJECTED

    @property
    def kept(self) -> bool:
        """Not delivered, but waiting in the outbox for a retry."""
        return not (self.delivered or self.rejected) and self.entry_id is not None


def row_of(entry: Entry, label: str) -> Row:
    """The row of an outbox entry, shown under ``label`` (a file or layer name)."""
    state, message = entry.state, entry.last_message
    if entry.state == SENT:
        warned = entry.last_status not in (None, 0)
        state = WARNING if warned else SENT
        if warned and not message:
            message = f"status 0x{entry.last_status:04X}"
        elif not warned:
            message = ""
    return Row(
        label,
        entry.destination_name,
        state,
        message,
        entry.id,
        entry.sop_instance_uid,
        entry.address,
    )


@dataclass
class SendReport:
    """Everything one send (or retry) did.

    ``rows``: one per item and destination. ``problems``: destination-wide reasons
    (an association that could not be made, or was lost), each naming its destination
    once. ``converted`` and ``passed_through`` count the objects queued.
    """

    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    converted: int = 0
    passed_through: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and all(row.delivered for row in self.rows)

    @property
    def delivered(self) -> list[Row]:
        return [row for row in self.rows if row.delivered]

    @property
    def undelivered(self) -> list[Row]:
        return [row for row in self.rows if not row.delivered]

    def add_run(self, summary: RunSummary) -> None:
        """Take the destination-wide reasons of an outbox run."""
        for run in summary.destinations.values():
            if run.error:
                self.problems.append(_naming(run.name, run.address, run.error))

    def lines(self) -> list[str]:
        """One line per destination: how many were sent, rejected, not sent and kept."""
        out = []
        for name in dict.fromkeys(row.destination for row in self.rows):
            rows = [row for row in self.rows if row.destination == name]
            sent = [row for row in rows if row.delivered]
            warned = sum(row.state == WARNING for row in sent)
            line = f"{_where(name, rows[0].address)}: {len(sent)} sent"
            if warned:
                line += f" ({warned} with warnings)"
            rejected = sum(row.rejected for row in rows)
            if rejected:
                line += f", {rejected} rejected"
            failed = len(rows) - len(sent) - rejected
            if failed:
                kept = sum(row.kept for row in rows)
                line += f", {failed} not sent"
                if kept:
                    line += f" ({kept} kept in the outbox)"
            out.append(line)
        return out

    def reasons(self) -> list[str]:
        """Why what was not sent was not: the problems, then the items' own reasons
        that the problems do not already say (a refusal for good, always), each naming
        every item it concerns."""
        labels: dict[tuple[str, str], list[str]] = {}  # (where, message): labels
        for row in self.undelivered:
            said_already = any(row.message in problem for problem in self.problems)
            if row.rejected or (row.message and not said_already):
                message = f"rejected: {row.message}" if row.rejected else row.message
                # an item that never became an object failed the same way for every one
                where = "" if row.entry_id is None else f" to {row.destination}"
                said = labels.setdefault((where, message), [])
                if row.label not in said:
                    said.append(row.label)
        return [
            *self.problems,
            *(
                naming(", ".join(said) + where, message)
                for (where, message), said in labels.items()
            ),
        ]

    def headline(self) -> str:
        """One sentence for a notification."""
        if not self.rows:
            return "; ".join(self.problems) or "Nothing was waiting in the outbox."
        if self.ok:
            where = ", ".join(dict.fromkeys(row.destination for row in self.rows))
            count = len({row.sop_instance_uid for row in self.rows})
            text = f"Sent {count} image{'s' if count != 1 else ''} to {where}"
            warned = [row for row in self.rows if row.state == WARNING]
            if warned:
                text += f", {len(warned)} with warnings: {warned[0].message}"
            return text
        failed = self.undelivered
        text = f"{len(failed)} of {len(self.rows)} images not sent"
        notes = []
        kept = sum(row.kept for row in failed)
        if kept:
            notes.append(f"{kept} kept in the outbox: use Retry failed")
        rejected = sum(row.rejected for row in failed)
        if rejected:
            notes.append(f"{rejected} rejected")
        if notes:
            text += f" ({'; '.join(notes)})"
        return f"{text}: {'; '.join(self.reasons()) or 'see the Send dock'}"


def _where(name: str, address: str) -> str:
    """How a destination is named: its name, and its address when that differs."""
    return name if name == address or not address else f"{name} ({address})"


def _naming(name: str, address: str, reason: str) -> str:
    """``reason`` naming its destination once."""
    if name in reason or address in reason:
        return reason
    return f"{_where(name, address)}: {reason}"


def naming(what: str, message: str) -> str:
    """``message`` about ``what`` (a file, a layer), naming it once: most errors name
    their file already ("Cannot read a.png: …")."""
    return message if what in message else f"{what}: {message}"
