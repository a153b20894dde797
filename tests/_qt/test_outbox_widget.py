"""The Outbox dock, driven as a user would: a send to a PACS that is down shows failed
with its reason, Retry sends it once the PACS is back, a double-click opens the object,
Purge removes the rejected entries."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QMessageBox

from napari_ezp2p._qt.outbox_widget import COLUMNS, OutboxWidget
from napari_ezp2p.config import Config, add_destination, save_config
from napari_ezp2p.outbox import REJECTED, SENT, STATES, Outbox
from tests._qt.helpers import click
from tests._qt.test_send_widget import check_all_layers, click_and_wait, open_send_dock
from tests.conftest import free_port, start_storescp
from tests.outbox.test_queue import PACS, make_datasets


@pytest.fixture
def down_pacs(tmp_path, monkeypatch):
    """A configured default destination on a free port nothing listens on, and the
    outbox of this test: ``(port, outbox folder)``."""
    port = free_port()
    path = tmp_path / "config.toml"
    config = add_destination(Config(), "pacs", f"STORESCP@127.0.0.1:{port}", default=True)
    save_config(config, path)
    monkeypatch.setenv("EZP2P_CONFIG", str(path))
    monkeypatch.setenv("EZP2P_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.delenv("EZP2P_AET", raising=False)
    return port, tmp_path / "outbox"


def open_outbox_dock(viewer) -> OutboxWidget:
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-ezp2p", "Outbox")
    assert isinstance(widget, OutboxWidget)
    return widget


def wait_for_worker(qtbot, widget: OutboxWidget, started) -> None:
    """Wait until the action the click started is done (the dock is busy until then)."""
    assert widget.worker is not started, "the action started no worker"
    qtbot.waitUntil(lambda: widget.retry_button.isEnabled(), timeout=30000)


def cell_point(table, row: int, column: int = 0):
    return table.visualRect(table.model().index(row, column)).center()


def shown_states(widget: OutboxWidget) -> list[str]:
    return [state for _, state, _ in widget.row_states()]


def test_the_state_filter_lists_the_outboxs_states(make_napari_viewer, down_pacs):
    widget = open_outbox_dock(make_napari_viewer())
    items = [widget.state_filter.itemText(i) for i in range(widget.state_filter.count())]
    assert items[1:] == list(STATES)
    assert [widget.table.horizontalHeaderItem(i).text() for i in range(len(COLUMNS))] == list(
        COLUMNS
    )


def test_failed_send_retried_from_the_dock_then_opened(
    make_napari_viewer, qtbot, down_pacs, tmp_path
):
    port, _ = down_pacs
    viewer = make_napari_viewer()
    film = np.random.default_rng(3).integers(200, 3900, size=(48, 40), dtype=np.uint16)
    viewer.add_image(film, name="film", contrast_limits=(500, 2500))
    send = open_send_dock(viewer)
    outbox = open_outbox_dock(viewer)
    check_all_layers(qtbot, send)
    click_and_wait(qtbot, send, send.send_button)

    qtbot.waitUntil(lambda: shown_states(outbox) == ["failed"], timeout=20000)
    ((description, _, reason),) = outbox.row_states()
    assert description == "film"
    assert reason == (
        f"cannot connect to pacs (STORESCP@127.0.0.1:{port}): connection refused "
        f"(nothing listens on port {port})"
    )
    table = outbox.table
    destination = table.item(0, COLUMNS.index("Destination")).text()
    address = table.item(0, COLUMNS.index("Address")).text()
    assert (destination, address) == ("pacs", f"STORESCP@127.0.0.1:{port}")
    assert table.item(0, COLUMNS.index("SOP Instance UID")).text()

    scp = start_storescp(tmp_path / "scp", port=port)  # the PACS is back
    try:
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=cell_point(table, 0))
        assert outbox.selected_ids()
        started = outbox.worker
        click(qtbot, outbox.retry_button)
        wait_for_worker(qtbot, outbox, started)
        qtbot.waitUntil(lambda: shown_states(outbox) == [SENT], timeout=20000)
        assert len(scp.received()) == 1
    finally:
        scp.peer.stop()

    started = outbox.worker
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=cell_point(table, 0))
    wait_for_worker(qtbot, outbox, started)
    opened = viewer.layers[-1]
    assert opened is not viewer.layers["film"]
    np.testing.assert_array_equal(np.asarray(opened.data), film)


def test_purge_rejected_removes_them_once_confirmed(
    make_napari_viewer, qtbot, down_pacs, monkeypatch
):
    _, folder = down_pacs
    with Outbox(folder) as box:
        ids = box.add(make_datasets(3), [PACS])
        box.claim(ids[1:])
        box.mark_rejected(ids[1:], "refused for good", 0xA900)
    widget = open_outbox_dock(make_napari_viewer())
    qtbot.waitUntil(lambda: len(widget.row_states()) == 3, timeout=20000)
    widget.state_filter.setCurrentIndex(widget.state_filter.findText(REJECTED))
    assert shown_states(widget) == [REJECTED, REJECTED]

    asked = []

    def answer(parent, title, text, *args, **kwargs):
        asked.append(text)
        return QMessageBox.StandardButton.No if len(asked) == 1 else QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer)
    started = widget.worker
    click(qtbot, widget.purge_button)  # answered No: nothing goes
    assert widget.worker is started
    click(qtbot, widget.purge_button)
    wait_for_worker(qtbot, widget, started)
    assert "Remove the 2 rejected entries" in asked[-1]
    qtbot.waitUntil(lambda: widget.row_states() == [], timeout=20000)
    widget.state_filter.setCurrentIndex(0)  # all states
    assert shown_states(widget) == ["queued"]
    with Outbox(folder) as box:
        assert [entry.id for entry in box.list()] == [ids[0]]


def test_retry_all_that_wait_sends_the_rejected_only_when_ticked(
    make_napari_viewer, qtbot, down_pacs, tmp_path
):
    port, folder = down_pacs
    down = dataclasses.replace(PACS, ae_title="STORESCP", port=port)
    with Outbox(folder) as box:
        ids = box.add(make_datasets(2), [down])
        box.claim(ids)
        box.mark_failed([ids[0]], "connection refused")
        box.mark_rejected([ids[1]], "refused for good")
    widget = open_outbox_dock(make_napari_viewer())
    qtbot.waitUntil(lambda: sorted(shown_states(widget)) == ["failed", REJECTED], timeout=20000)
    scp = start_storescp(tmp_path / "scp", port=port)
    try:
        assert widget.selected_ids() == []  # nothing selected: all that wait
        started = widget.worker
        click(qtbot, widget.retry_button)
        wait_for_worker(qtbot, widget, started)
        qtbot.waitUntil(lambda: shown_states(widget) == [REJECTED, SENT], timeout=20000)
        assert len(scp.received()) == 1
        click(qtbot, widget.rejected_box)
        started = widget.worker
        click(qtbot, widget.retry_button)
        wait_for_worker(qtbot, widget, started)
        qtbot.waitUntil(lambda: shown_states(widget) == [SENT, SENT], timeout=20000)
        assert len(scp.received()) == 2
    finally:
        scp.peer.stop()


def test_an_outbox_it_cannot_read_is_said_in_the_dock(make_napari_viewer, qtbot, down_pacs):
    path = down_pacs[1].parent / "config.toml"
    path.write_text("this is [not toml\n")
    widget = open_outbox_dock(make_napari_viewer())
    qtbot.waitUntil(
        lambda: widget.count_label.text().startswith("Cannot read the outbox: "), timeout=20000
    )
    assert widget.timer.isActive()  # it keeps asking: the config may be mended
    path.write_text("")
    qtbot.waitUntil(lambda: widget.count_label.text() == "0 of 0 entries", timeout=20000)
