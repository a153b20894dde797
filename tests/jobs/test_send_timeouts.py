"""Sending to a peer that takes its time: the timeouts bound how long an entry is sending."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.jobs import send as send_job
from napari_ezp2p.outbox import FAILED, SENDING, Outbox
from tests.net.helpers import SETTINGS
from tests.net.trickle import trickling_peer


def test_a_peer_trickling_its_association_answer_leaves_the_entry_failed(tmp_path):
    image = SourceImage.from_array(np.full((8, 8), 7, np.uint8))
    settings = dataclasses.replace(SETTINGS, acse_timeout=3)
    with trickling_peer() as dest:
        start = time.perf_counter()
        report = send_job.send(
            [send_job.SendItem("one", image=image)],
            Metadata(patient_name="DOE^JANE", patient_id="ID1"),
            [dest],
            network=settings,
            outbox_folder=tmp_path / "box",
        )
        seconds = time.perf_counter() - start
    assert seconds < 8
    [row] = report.rows
    assert row.state == FAILED
    assert "did not answer the association request within 3 s" in row.message
    with Outbox(tmp_path / "box") as outbox:
        assert [entry.state for entry in outbox.list()] == [FAILED]
        assert not outbox.list([SENDING])
