"""The Send dock against a real Orthanc, and against a destination that is down."""

from __future__ import annotations

import dataclasses

import numpy as np
from napari.utils.notifications import notification_manager
from pydicom.uid import JPEGLSLossless
from pynetdicom import AE, evt
from pynetdicom.sop_class import SecondaryCaptureImageStorage
from qtpy.QtCore import QPoint, Qt

from napari_ezp2p._napari.session import session_for
from napari_ezp2p._qt.send_widget import SendWidget
from napari_ezp2p.outbox import Outbox
from tests.conftest import assert_one_lossless_object_at_both, free_port


def film_and_photo(viewer):
    rng = np.random.default_rng(7)
    film = rng.integers(200, 3900, size=(96, 80), dtype=np.uint16)
    photo = rng.integers(0, 255, size=(40, 50, 3), dtype=np.uint8)
    film_layer = viewer.add_image(film, name="film", contrast_limits=(500, 2500))
    photo_layer = viewer.add_image(photo, name="photo", rgb=True)
    return film_layer, photo_layer


def open_send_dock(viewer) -> SendWidget:
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-ezp2p", "Send")
    assert isinstance(widget, SendWidget)
    return widget


def check_all_layers(qtbot, widget: SendWidget) -> None:
    """Tick every layer's box with the mouse, as a user would."""
    layers = widget.layer_list
    for row in range(layers.count()):
        item = layers.item(row)
        if item.checkState() != Qt.CheckState.Checked:
            rect = layers.visualItemRect(item)
            box = QPoint(rect.left() + rect.height() // 2, rect.center().y())
            qtbot.mouseClick(layers.viewport(), Qt.MouseButton.LeftButton, pos=box)
            if item.checkState() != Qt.CheckState.Checked:  # style puts the box elsewhere
                item.setCheckState(Qt.CheckState.Checked)
    assert all(
        layers.item(row).checkState() == Qt.CheckState.Checked for row in range(layers.count())
    )


def click_and_wait(qtbot, widget: SendWidget, button) -> None:
    started = widget.worker
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert widget.worker is not started, "the click started no worker"
    with qtbot.waitSignal(widget.worker.finished, timeout=30000):
        pass
    qtbot.waitUntil(lambda: widget.send_button.isEnabled(), timeout=5000)


def test_send_two_layers_to_orthanc(make_napari_viewer, qtbot, orthanc, settings):
    server = orthanc()
    settings("pacs", server.destination.address)
    viewer = make_napari_viewer()
    session = session_for(viewer)
    session.metadata = dataclasses.replace(
        session.metadata, patient_name="FILM^FRIDA", study_description="Old films"
    )
    film, photo = film_and_photo(viewer)
    widget = open_send_dock(viewer)

    checked = {
        widget.layer_list.item(row).text(): widget.layer_list.item(row).checkState()
        for row in range(widget.layer_list.count())
    }
    assert checked == {"photo": Qt.CheckState.Checked, "film": Qt.CheckState.Unchecked}
    assert [widget.destination_list.item(0).text()] == ["pacs"]
    assert widget.destination_list.item(0).checkState() == Qt.CheckState.Checked
    check_all_layers(qtbot, widget)
    widget.ts_combo.setCurrentIndex(widget.ts_combo.findData("jpeg-ls"))
    assert session.transfer_syntax == "jpeg-ls"
    reported = []
    widget.progressed.connect(lambda *update: reported.append(update))
    click_and_wait(qtbot, widget, widget.send_button)
    assert reported[-1] == ("pacs", 2, 2), "per-instance progress reaches the activity bar"

    instances = server.rest("/instances")
    assert len(instances) == 2
    tags = {i: server.rest(f"/instances/{i}/simplified-tags") for i in instances}
    assert len({t["StudyInstanceUID"] for t in tags.values()}) == 1
    assert {t["PatientName"] for t in tags.values()} == {"FILM^FRIDA"}
    assert {t["StudyDescription"] for t in tags.values()} == {"Old films"}
    by_name = {t["SeriesDescription"]: t for t in tags.values()}
    assert set(by_name) == {"film", "photo"}
    assert float(by_name["film"]["WindowCenter"]) == 1500
    assert float(by_name["film"]["WindowWidth"]) == 2000
    assert "WindowCenter" not in by_name["photo"]
    assert by_name["photo"]["PhotometricInterpretation"] in ("RGB", "YBR_FULL")
    for instance in instances:
        meta = server.rest(f"/instances/{instance}/metadata?expand")
        assert meta["TransferSyntax"] == str(JPEGLSLossless)
    states = {(row[0], row[2]) for row in widget.statuses()}
    assert states == {("film", "sent"), ("photo", "sent")}
    messages = [n.message for n in notification_manager.records]
    assert any("Sent 2 images to pacs" in m for m in messages), messages


def test_a_destination_that_is_down_keeps_the_images_then_retry(
    make_napari_viewer, qtbot, settings
):
    port = free_port()  # nothing listens there
    outbox_folder = settings("down", f"DOWN@127.0.0.1:{port}")
    viewer = make_napari_viewer()
    film_and_photo(viewer)
    widget = SendWidget(viewer)  # constructed directly: the dock itself is tested above
    qtbot.addWidget(widget)
    check_all_layers(qtbot, widget)
    extra = viewer.add_image(np.zeros((4, 4), np.uint8), name="extra")
    names = [widget.layer_list.item(row).text() for row in range(widget.layer_list.count())]
    assert names == ["extra", "photo", "film"]
    viewer.layers.remove(extra)
    assert {layer.name for layer in widget.checked_layers()} == {"film", "photo"}
    seen = len(notification_manager.records)
    click_and_wait(qtbot, widget, widget.send_button)

    errors = [n.message for n in notification_manager.records[seen:]]
    assert any("2 of 2 images not sent" in m and "DOWN@127.0.0.1" in m for m in errors), errors
    assert any("kept in the outbox" in m for m in errors)
    assert {row[2] for row in widget.statuses()} == {"failed"}
    assert all(row[3] for row in widget.statuses()), "a failed row says why"
    with Outbox(outbox_folder) as outbox:
        entries = outbox.list()
    assert len(entries) == 2 and {e.state for e in entries} <= {"failed", "queued"}

    # The PACS comes up on that port: "Retry failed" sends what the outbox kept.
    received = []

    def store(event):
        received.append(event.dataset.SeriesDescription)
        return 0x0000

    ae = AE("DOWN")
    ae.add_supported_context(SecondaryCaptureImageStorage, JPEGLSLossless)
    ae.add_supported_context(SecondaryCaptureImageStorage)
    scp = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, store)]
    )
    try:
        click_and_wait(qtbot, widget, widget.retry_button)
    finally:
        scp.shutdown()
    assert sorted(received) == ["film", "photo"]
    assert {(row[0], row[2]) for row in widget.statuses()} == {("film", "sent"), ("photo", "sent")}
    with Outbox(outbox_folder) as outbox:
        assert {e.state for e in outbox.list()} == {"sent"}


def test_pixels_are_converted_off_the_event_loop_and_a_bad_layer_fails_alone(
    make_napari_viewer, qtbot, settings, monkeypatch
):
    import threading

    from napari_ezp2p._napari.session import LayerSnapshot
    from tests.net.helpers import fake_scp

    converted_on = []
    image = LayerSnapshot.image

    def watched(snapshot):
        converted_on.append(threading.current_thread() is threading.main_thread())
        return image(snapshot)

    monkeypatch.setattr(LayerSnapshot, "image", watched)
    with fake_scp() as scp:
        settings("pacs", scp.destination.address)
        viewer = make_napari_viewer()
        film, _photo = film_and_photo(viewer)
        broken = np.zeros((20, 20), np.float32)
        viewer.add_image(broken, name="broken")
        broken[3, 3] = np.nan  # after napari computed its contrast limits
        widget = open_send_dock(viewer)
        check_all_layers(qtbot, widget)
        click_and_wait(qtbot, widget, widget.send_button)
    assert converted_on == [False, False, False]
    states = {row[0]: (row[2], row[3]) for row in widget.statuses()}
    assert states["film"][0] == states["photo"][0] == "sent"
    assert states["broken"] == ("failed", "image data is empty or holds NaN/infinite values")
    assert len(scp.stored) == 2


def test_two_destinations_get_one_object_and_nothing_lossy(make_napari_viewer, qtbot, two_stores):
    viewer = make_napari_viewer()
    pixels = np.random.default_rng(4).integers(0, 255, (30, 40), dtype=np.uint8)
    viewer.add_image(pixels, name="grey")
    widget = open_send_dock(viewer)
    for row in range(widget.destination_list.count()):
        widget.destination_list.item(row).setCheckState(Qt.CheckState.Checked)
    assert session_for(viewer).destinations == ("A", "B")
    assert widget.ts_combo.currentData() == ""  # as the source is / as preferred
    click_and_wait(qtbot, widget, widget.send_button)
    assert {(row[1], row[2]) for row in widget.statuses()} == {("A", "sent"), ("B", "sent")}
    assert_one_lossless_object_at_both(two_stores, pixels)
