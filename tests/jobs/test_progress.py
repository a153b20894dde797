"""Progress within one object: frames encoded, then bytes of its data set sent."""

from __future__ import annotations

import threading
import time

import numpy as np
import pydicom
from pynetdicom.dsutils import split_dataset

from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.jobs.inputs import SyntaxChoice
from napari_ezp2p.jobs.send import SendItem, send
from napari_ezp2p.net.destination import NetworkSettings
from napari_ezp2p.net.progress import (
    ENCODING,
    EVERY_BYTES,
    EVERY_SECONDS,
    SENDING,
    ObjectProgress,
    Throttle,
)
from napari_ezp2p.outbox import Outbox


def _image(frames: int, size: int) -> SourceImage:
    rng = np.random.default_rng(12)
    pixels = rng.integers(0, 4096, (frames, size, size, 1), dtype=np.uint16)
    return SourceImage(pixels, bits_stored=12)


def _send(image: SourceImage, syntax: str, storescp, tmp_path) -> tuple[list, list, int]:
    events: list[ObjectProgress] = []
    lock = threading.Lock()

    def record(event: ObjectProgress) -> None:
        with lock:
            events.append(event)

    instances: list[tuple[str, int, int]] = []
    report = send(
        [SendItem("big", image=image)],
        Metadata(patient_id="P12"),
        [storescp.destination],
        network=NetworkSettings(),
        outbox_folder=tmp_path / "outbox",
        syntax=SyntaxChoice.of(syntax, [storescp.destination]),
        progress=lambda *counts: instances.append(counts),
        object_progress=record,
    )
    assert report.ok, report.lines()
    assert instances[-1] == ("storescp", 1, 1), "the per-instance count still comes"
    return events, instances, data_set_size(tmp_path / "outbox")


def data_set_size(outbox_folder) -> int:
    """The bytes of the data set of the one object in the outbox, as it is sent."""
    with Outbox(outbox_folder) as outbox:
        (entry,) = outbox.list()
    _, offset = split_dataset(entry.path)
    return entry.path.stat().st_size - offset


def _sending(events: list[ObjectProgress], size: int) -> list[int]:
    sending = [e for e in events if e.stage == SENDING]
    assert {(e.total, e.unit, e.label, e.destination) for e in sending} == {
        (size, "B", "big", "storescp")
    }
    return [e.done for e in sending]


def test_a_big_object_reports_its_bytes_sent_up_to_exactly_its_size(storescp, tmp_path):
    image = _image(1, 4096)
    events, _, size = _send(image, "explicit-le", storescp, tmp_path)
    done = _sending(events, size)
    assert size > image.nbytes  # 32 MiB of pixels and the header
    assert done[0] == 0 and done[-1] == size
    assert all(a < b for a, b in zip(done, done[1:], strict=False)), "strictly increasing"
    # how many come between depends on how long the send takes (the fast path: ~50 ms)
    assert len(done) < size // (64 * 1024) + 2, "throttled: never one update per PDU"
    (received,) = storescp.received()
    assert pydicom.dcmread(received).Rows == 4096


def test_the_throttle_reports_a_slow_transfer_as_it_goes_and_a_fast_one_at_its_ends():
    reports = []
    throttle = Throttle(lambda done, total: reports.append(done))
    total = 5 * EVERY_BYTES
    for step in range(6):  # a slow transfer: each chunk after the throttle's interval
        throttle(step * EVERY_BYTES, total)
        time.sleep(EVERY_SECONDS * 1.2)
    assert reports == [step * EVERY_BYTES for step in range(6)]
    reports.clear()
    throttle = Throttle(lambda done, total: reports.append(done))
    for done in range(0, total + 1, 1024):  # a fast one: every KiB at once
        throttle(done, total)
    assert reports == [0, total]


def test_a_multi_frame_object_reports_each_frame_encoded_then_its_bytes(storescp, tmp_path):
    events, _, size = _send(_image(5, 256), "j2k-lossless", storescp, tmp_path)
    encoding = [e for e in events if e.stage == ENCODING]
    assert [(e.done, e.total, e.unit, e.label) for e in encoding] == [
        (n, 5, "frame", "big") for n in range(1, 6)
    ]
    assert events.index(encoding[-1]) < events.index(next(e for e in events if e.stage == SENDING))
    done = _sending(events, size)
    assert done[-1] == size and done == sorted(set(done))
    (received,) = storescp.received()
    assert pydicom.dcmread(received).NumberOfFrames == 5
