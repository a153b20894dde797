"""Objects to send, and small pynetdicom SCPs whose answers a test chooses."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from pydicom.dataset import Dataset
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.dimse_messages import C_STORE_RSP
from pynetdicom.sop_class import (
    ModalityWorklistInformationFind,
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from napari_ezp2p.core.convert import convert_images
from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.transfer import transfer_syntax
from napari_ezp2p.net.destination import Destination, NetworkSettings
from tests.conftest import OUR_AE

ROWS, COLUMNS = 64, 80
# Generous DIMSE timeout: Orthanc's first C-STORE can be slow on a loaded 2-core machine.
SETTINGS = NetworkSettings(ae_title=OUR_AE, acse_timeout=5, dimse_timeout=30, network_timeout=30)


def grey8(seed: int = 1) -> np.ndarray:
    y, x = np.mgrid[:ROWS, :COLUMNS]
    noise = np.random.default_rng(seed).integers(0, 40, (ROWS, COLUMNS))
    return ((y * 2 + x + noise) % 256).astype(np.uint8)


def sc_objects(count: int, ts: str = "explicit-le", **meta) -> list[Dataset]:
    """``count`` small grey Secondary Capture objects of one series, encoded in ``ts``."""
    images = [SourceImage.from_array(grey8(seed)) for seed in range(1, count + 1)]
    values = {"patient_name": "Test^Patient", "patient_id": "P1", **meta}
    return convert_images(images, Metadata(**values), transfer_syntax(ts), datetime.now())


@dataclass
class FakeScp:
    """A pynetdicom SCP on 127.0.0.1; what it saw is recorded."""

    destination: Destination
    requests: list[dict] = field(default_factory=list)  # one per A-ASSOCIATE-RQ
    stored: list[str] = field(default_factory=list)  # SOP Instance UIDs it answered
    stored_on: list[int] = field(default_factory=list)  # the association of each (its id)
    aborted: threading.Event = field(default_factory=threading.Event)


@contextmanager
def fake_scp(
    store_status: Callable[[int, Dataset], int] | None = None,
    *,
    ae_title: str = "TESTSCP",
    find_answers: list[Dataset] | None = None,
    ssl_context=None,
    maximum_associations: int = 10,
    on_request: Callable[[int], None] | None = None,
    abort_after: Collection[int] = (),
    abort_on: Collection[int] = (),
) -> Iterator[FakeScp]:
    """An SCP for Verification, every Storage class, Study Root and Worklist FIND.

    ``store_status(n, ds)`` gives the status of the n-th C-STORE (0-based) and may sleep;
    ``on_request(n)`` is called before the n-th association (0-based) is answered; the
    SCP aborts the association just after answering the n-th C-STORE, n in ``abort_after``,
    and instead of answering it, n in ``abort_on`` (as dcmtk does on an object it cannot
    take).
    """
    ae = AE(ae_title=ae_title)
    ae.maximum_associations = maximum_associations
    ae.maximum_pdu_size = 0
    ae.add_supported_context(Verification)
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    ae.add_supported_context(ModalityWorklistInformationFind)
    for cx in AllStoragePresentationContexts[:120]:
        ae.add_supported_context(cx.abstract_syntax)
    state: FakeScp

    def requested(event):
        if on_request is not None:
            on_request(len(state.requests))
        rq = event.assoc.requestor
        state.requests.append(
            {
                "implementation_class_uid": rq.implementation_class_uid,
                "implementation_version_name": rq.implementation_version_name,
                "ae_title": rq.primitive.calling_ae_title,
                "max_pdu": rq.maximum_length,
            }
        )

    lock = threading.Lock()

    def on_store(event):
        ds = event.dataset
        with lock:
            number = len(state.stored)
            state.stored.append(ds.SOPInstanceUID)
            state.stored_on.append(id(event.assoc))
            answering[id(event.assoc)] = number
        if number in abort_on:
            event.assoc.abort()
            return 0xC000  # never sent: the association is gone
        return store_status(number, ds) if store_status else 0

    answering: dict[int, int] = {}  # the C-STORE each association is answering

    def on_sent(event):
        if isinstance(event.message, C_STORE_RSP):
            with lock:
                number = answering.pop(id(event.assoc), None)
            if number in abort_after:  # once the response is on its way (sent is queued)
                threading.Timer(0.2, event.assoc.abort).start()

    def on_find(event):
        for answer in find_answers or []:
            yield 0xFF00, answer

    handlers = [
        (evt.EVT_REQUESTED, requested),
        (evt.EVT_C_STORE, on_store),
        (evt.EVT_C_FIND, on_find),
        (evt.EVT_ABORTED, lambda event: state.aborted.set()),
        (evt.EVT_DIMSE_SENT, on_sent),
    ]
    server = ae.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=handlers, ssl_context=ssl_context
    )
    port = server.server_address[1]
    state = FakeScp(Destination("testscp", ae_title, "127.0.0.1", port))
    try:
        yield state
    finally:
        server.shutdown()
