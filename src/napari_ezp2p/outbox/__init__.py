"""The outbox: a durable queue of DICOM instances for their destinations, and its runner."""

from .database import (
    FAILED,
    QUEUED,
    REJECTED,
    SENDING,
    SENT,
    STATES,
    Claim,
    Entry,
    OutboxError,
)
from .files import Written
from .queue import Outbox, default_outbox_folder
from .runner import (
    DestinationRun,
    Failure,
    Outcome,
    RunSummary,
    Sender,
    SenderProgress,
    Senders,
    SendOutcome,
    send_due,
)
from .schedule import backoff_delay

__all__ = [
    "FAILED",
    "QUEUED",
    "REJECTED",
    "SENDING",
    "SENT",
    "STATES",
    "Claim",
    "DestinationRun",
    "Entry",
    "Failure",
    "Outbox",
    "OutboxError",
    "Outcome",
    "RunSummary",
    "SendOutcome",
    "Sender",
    "Senders",
    "SenderProgress",
    "Written",
    "backoff_delay",
    "default_outbox_folder",
    "send_due",
]
