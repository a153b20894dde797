"""Progress within one object: frames encoded, then bytes of its data set sent."""

from __future__ import annotations

import threading

import numpy as np
import pydicom
from pynetdicom.dsutils import split_dataset

from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.jobs.inputs import SyntaxChoice
from napari_ezp2p.jobs.send import SendItem, send
from napari_ezp2p.net.destination import NetworkSettings
from napari_ezp2p.net.progress import ENCODING, SENDING, ObjectProgress
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
    assert 2 < len(done) < size // (64 * 1024) + 2, "throttled: a few updates, not every PDU"
    (received,) = storescp.received()
    assert pydicom.dcmread(received).Rows == 4096


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
