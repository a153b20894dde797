"""The outbox: a durable queue of DICOM instances for their destinations, and its runner."""

from .queue import (
    FAILED,
    QUEUED,
    SENDING,
    SENT,
    STATES,
    Claim,
    Entry,
    Outbox,
    OutboxError,
    backoff_delay,
    default_outbox_folder,
)
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

__all__ = [
    "FAILED",
    "QUEUED",
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
    "backoff_delay",
    "default_outbox_folder",
    "send_due",
]
