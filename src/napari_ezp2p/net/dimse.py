"""The DIMSE transport: the outbox's entries for a destination go by C-STORE."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..outbox import Entry
from ..outbox.runner import Outcome, Sender, SenderBytes, SenderProgress
from .destination import Destination, NetworkSettings
from .store import StoreFile, store
from .transfer import StoreProgress


def sender(settings: NetworkSettings) -> Sender:
    """A :class:`~napari_ezp2p.outbox.runner.Sender` that is :func:`.store.store` with
    ``settings``.

    ``store`` reports a failed association as every object "not sent"; the runner counts
    that as a failed attempt of the whole batch (with ``store``'s message).
    """

    def send(
        entries: Sequence[Entry],
        destination: Destination,
        *,
        progress: SenderProgress | None = None,
        on_bytes: SenderBytes | None = None,
    ) -> Iterable[Outcome]:
        def tell(update: StoreProgress) -> None:
            if progress is not None and update.outcome is not None:
                progress(update.done, update.total, update.outcome)

        files = [StoreFile(e.path, e.sop_class_uid, e.sop_instance_uid) for e in entries]
        return store(files, destination, settings, progress=tell, on_bytes=on_bytes).outcomes

    return send
