"""A long single object shows determinate progress in napari's activity area: its bytes
sent (and its frames encoded), from the Send dock and from the layer menu."""

from __future__ import annotations

import numpy as np
import pytest

from napari_ezp2p._napari import menus
from napari_ezp2p._napari import progress as napari_progress
from napari_ezp2p._napari.session import session_for
from napari_ezp2p._qt import send_widget
from napari_ezp2p.net.progress import ENCODING, SENDING, ObjectProgress
from tests._qt.test_send_widget import click_and_wait, open_send_dock
from tests.jobs.test_progress import data_set_size


@pytest.fixture
def shown(monkeypatch) -> list[napari_progress.SendProgress]:
    """The progress shown by each send, kept after it closes."""
    made = []

    class Recorded(napari_progress.SendProgress):
        def __init__(self, description: str) -> None:
            super().__init__(description)
            made.append(self)

    monkeypatch.setattr(napari_progress, "SendProgress", Recorded)
    monkeypatch.setattr(send_widget, "SendProgress", Recorded)
    return made


def _big(viewer, frames: int = 1, size: int = 4096):
    rng = np.random.default_rng(12)
    shape = (frames, size, size) if frames > 1 else (size, size)
    return viewer.add_image(rng.integers(0, 4095, shape, dtype=np.uint16), name="big")


def test_the_send_dock_shows_the_bytes_of_one_big_object(
    make_napari_viewer,
    qtbot,
    storescp,
    settings,
    shown,
):
    outbox = settings("pacs", storescp.destination.address)
    viewer = make_napari_viewer()
    _big(viewer)
    widget = open_send_dock(viewer)
    widget.ts_combo.setCurrentIndex(widget.ts_combo.findData("explicit-le"))
    seen: list[ObjectProgress] = []
    widget.object_progressed.connect(seen.append)
    click_and_wait(qtbot, widget, widget.send_button)
    assert len(storescp.received()) == 1

    size = data_set_size(outbox)
    assert size > 4096 * 4096 * 2
    sending = [e for e in seen if e.stage == SENDING]
    assert {(e.total, e.unit, e.label, e.destination) for e in sending} == {
        (size, "B", "big", "pacs")
    }
    done = [e.done for e in sending]
    assert done[0] == 0 and done[-1] == size and done == sorted(set(done))
    # the activity bar napari showed: a real total, reached (and closed once complete)
    (progress,) = shown
    bar = progress.objects[SENDING, "big", "pacs"]
    assert (bar.total, bar.n) == (size, size)
    assert "Sending big to pacs" in bar.desc


def test_the_layer_menu_shows_each_frame_encoded_then_the_bytes_sent(
    make_napari_viewer,
    qtbot,
    storescp,
    settings,
    shown,
):
    from napari._app_model import get_app_model

    outbox = settings("pacs", storescp.destination.address)
    viewer = make_napari_viewer()
    _big(viewer, frames=4, size=512)
    session_for(viewer).transfer_syntax = "j2k-lossless"
    worker = get_app_model().commands.execute_command(menus.COMMAND_ID).result()
    with qtbot.waitSignal(worker.finished, timeout=60000):
        pass
    assert len(storescp.received()) == 1

    (progress,) = shown
    encoding = progress.objects[ENCODING, "big", ""]
    assert (encoding.total, encoding.n) == (4, 4)
    sending = progress.objects[SENDING, "big", "pacs"]
    size = data_set_size(outbox)
    assert (sending.total, sending.n) == (size, size)
