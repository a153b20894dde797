"""The transports the outbox sends by, chosen by each destination's ``kind``.

A transport is a module with ``sender(settings) -> Sender`` (see
:class:`napari_ezp2p.outbox.runner.Sender`); adding one is that module and its entry in
:data:`TRANSPORTS`, nothing in the runner.
"""

from __future__ import annotations

from collections.abc import Callable

from ..outbox.runner import Sender, Senders
from .destination import Destination, DestinationError, NetworkSettings


def _dimse(settings: NetworkSettings) -> Sender:
    from .dimse import sender

    return sender(settings)


#: Destination kind -> the factory of its sender.
TRANSPORTS: dict[str, Callable[[NetworkSettings], Sender]] = {"dimse": _dimse}


def senders(settings: NetworkSettings) -> Senders:
    """The sender for each destination, by its kind, made once per kind."""
    made: dict[str, Sender] = {}

    def sender_for(destination: Destination) -> Sender:
        kind = destination.kind
        if kind not in made:
            if kind not in TRANSPORTS:
                raise DestinationError(
                    f"{destination.name}: unknown destination kind {kind!r} "
                    f"(known: {', '.join(TRANSPORTS)})"
                )
            made[kind] = TRANSPORTS[kind](settings)
        return made[kind]

    return sender_for
