"""The Capture dock with SANE's real test scanner and real video files made here.

The scanner tests block the scanning (or recording) thread inside its progress callback
until the test has clicked Cancel, so a cancel always lands in the middle of the work.
"""

from __future__ import annotations

import threading
from pathlib import Path

import av
import numpy as np
import pytest
from napari.utils.notifications import notification_manager
from pydicom import dcmread
from qtpy.QtCore import Qt

from napari_ezp2p._napari.reader import limits_from_data
from napari_ezp2p._napari.writer import write_dicom
from napari_ezp2p._qt import capture_widget
from napari_ezp2p._qt.capture_widget import DEVICE, SCANNER, CaptureWidget
from napari_ezp2p.capture.devices import VideoDevice

# The dock lists scanners when it opens: SANE must see only its test backend by then.
pytestmark = pytest.mark.usefixtures("sane_test_backend")

WIDTH, HEIGHT, RATE = 64, 48, 25
MULTIFRAME_TRUE_COLOUR = "1.2.840.10008.5.1.4.1.1.7.4"


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory) -> Path:
    """A lossless 40-frame video whose frame n is grey 5 * n (read back exactly)."""
    path = tmp_path_factory.mktemp("video") / "ward round.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "bgr0"
        for number in range(40):
            rgb = np.full((HEIGHT, WIDTH, 3), 5 * number, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    return path


def open_capture_dock(viewer, qtbot) -> CaptureWidget:
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-ezp2p", "Capture")
    assert isinstance(widget, CaptureWidget)
    qtbot.waitUntil(lambda: widget.list_worker is None, timeout=15000)
    return widget


def messages(since: int = 0) -> list[str]:
    return [str(n.message) for n in notification_manager.records[since:]]


def click_and_wait(qtbot, widget: CaptureWidget, button) -> None:
    """Click, then wait for the work it started to be over (its results are shown by
    then: the dock's ``finished`` handler runs after its ``returned`` one)."""
    started = widget.worker
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert widget.worker is not started, "the click started no worker"
    qtbot.waitUntil(lambda: not widget.cancel_button.isEnabled(), timeout=30000)


def choose_scanner(qtbot, widget: CaptureWidget, device: str, dpi: float, depth: int) -> None:
    widget.select_source(SCANNER, device)
    qtbot.waitUntil(widget.scanner_box.scan_button.isEnabled, timeout=15000)
    assert widget.scanner_box.isVisibleTo(widget) and not widget.video_box.isVisibleTo(widget)
    widget.scanner_box.resolution.setCurrentIndex(widget.scanner_box.resolution.findData(dpi))
    widget.scanner_box.mode.setCurrentIndex(widget.scanner_box.mode.findData("gray"))
    widget.scanner_box.depth.setCurrentIndex(widget.scanner_box.depth.findData(depth))
    assert (
        widget.scanner_box.resolution.currentData() == dpi
        and widget.scanner_box.depth.currentData() == depth
    )


def pause_at_progress(signal, reached_when):
    """Block the worker in its progress callback once ``reached_when(*args)`` holds,
    until ``release`` is set; returns (reached, release) events."""
    reached, release = threading.Event(), threading.Event()

    def hold(*args) -> None:  # runs in the worker thread (direct connection)
        if not reached.is_set() and reached_when(*args):
            reached.set()
            release.wait(15)

    signal.connect(hold, Qt.ConnectionType.DirectConnection)
    return reached, release


def test_scan_16_bit_grey_from_the_sane_test_scanner(
    make_napari_viewer, qtbot, sane_test_backend, tmp_path
):
    viewer = make_napari_viewer()
    widget = open_capture_dock(viewer, qtbot)
    entries = [widget.source_combo.itemData(i) for i in range(widget.source_combo.count())]
    assert f"{SCANNER}:{sane_test_backend}" in entries and entries[-1] == "pick:"

    choose_scanner(qtbot, widget, sane_test_backend, 50.0, 16)
    widget.scanner_box.kind.setCurrentIndex(widget.scanner_box.kind.findData("DF"))
    fractions = []
    widget.scanner_box.scan_progressed.connect(fractions.append)
    click_and_wait(qtbot, widget, widget.scanner_box.scan_button)

    (layer,) = viewer.layers
    assert layer.name == sane_test_backend and not layer.rgb
    assert layer.data.dtype == np.uint16 and layer.data.shape == (393, 393)
    assert tuple(layer.contrast_limits) == pytest.approx(limits_from_data(layer.data))
    fields = layer.metadata["ezp2p"]
    assert fields["conversion_type"] == "DF"
    assert fields["pixel_spacing"] == pytest.approx((0.508, 0.508))
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and len(fractions) > 10
    assert not widget.progress_bar.isVisible()

    # Saved (as sending does): a film scan with its scan resolution and 16 bits kept.
    attributes = {
        "name": layer.name,
        "rgb": layer.rgb,
        "contrast_limits": layer.contrast_limits,
        "metadata": layer.metadata,
    }
    (written,) = write_dicom(str(tmp_path / "scan.dcm"), layer.data, attributes)
    ds = dcmread(written)
    assert ds.ConversionType == "DF" and ds.BitsAllocated == 16
    assert [float(v) for v in ds.NominalScannedPixelSpacing] == [0.508, 0.508]
    assert np.array_equal(ds.pixel_array, layer.data)


def test_cancel_during_a_scan_then_the_scanner_works_again(
    make_napari_viewer, qtbot, sane_test_backend
):
    viewer = make_napari_viewer()
    widget = open_capture_dock(viewer, qtbot)
    choose_scanner(qtbot, widget, sane_test_backend, 100.0, 16)
    reached, release = pause_at_progress(widget.scanner_box.scan_progressed, lambda f: 0 < f < 0.5)
    seen = len(notification_manager.records)

    qtbot.mouseClick(widget.scanner_box.scan_button, Qt.MouseButton.LeftButton)
    worker = widget.worker
    qtbot.waitUntil(reached.is_set, timeout=15000)
    assert widget.cancel_button.isEnabled() and not widget.scanner_box.scan_button.isEnabled()
    qtbot.mouseClick(widget.cancel_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(worker.finished, timeout=15000):
        release.set()
    qtbot.waitUntil(widget.scanner_box.scan_button.isEnabled, timeout=5000)

    assert len(viewer.layers) == 0
    assert any("cancelled" in m for m in messages(seen)), messages(seen)
    assert "cancelled" in widget.status_label.text()

    widget.scanner_box.resolution.setCurrentIndex(widget.scanner_box.resolution.findData(50.0))
    click_and_wait(qtbot, widget, widget.scanner_box.scan_button)
    assert [layer.data.shape for layer in viewer.layers] == [(393, 393)]


def test_record_and_grab_from_a_video_file(make_napari_viewer, qtbot, clip_file, tmp_path):
    viewer = make_napari_viewer()
    widget = open_capture_dock(viewer, qtbot)
    widget.set_video_file(clip_file)
    assert widget.current_source() == ("file", str(clip_file))
    assert widget.video_box.isVisibleTo(widget) and not widget.scanner_box.isVisibleTo(widget)

    widget.video_box.record_unit.setCurrentText("frames")
    widget.video_box.record_amount.setValue(5)
    click_and_wait(qtbot, widget, widget.video_box.record_button)
    (clip,) = viewer.layers
    assert clip.name == "ward round clip" and clip.rgb
    assert clip.data.shape == (5, HEIGHT, WIDTH, 3)
    assert [int(frame[0, 0, 0]) for frame in clip.data] == [0, 5, 10, 15, 20]
    assert clip.metadata["ezp2p"] == {"conversion_type": "DV", "frame_time_ms": 40.0}

    click_and_wait(qtbot, widget, widget.video_box.grab_button)
    frame = viewer.layers[-1]
    assert frame.name == "ward round frame" and frame.data.shape == (HEIGHT, WIDTH, 3)
    assert frame.metadata["ezp2p"] == {"conversion_type": "DV"}

    widget.video_box.record_unit.setCurrentText("seconds")
    widget.video_box.record_amount.setValue(0.4)
    click_and_wait(qtbot, widget, widget.video_box.record_button)
    assert viewer.layers[-1].data.shape[0] == 10

    # The recorded layer, written as sending writes it: a multi-frame true colour SC.
    attributes = {"name": clip.name, "rgb": clip.rgb, "metadata": clip.metadata}
    (written,) = write_dicom(str(tmp_path / "clip.dcm"), clip.data, attributes)
    ds = dcmread(written)
    assert ds.SOPClassUID == MULTIFRAME_TRUE_COLOUR
    assert int(ds.NumberOfFrames) == 5 and ds.ConversionType == "DV"
    assert float(ds.FrameTime) == 40 and int(ds.CineRate) == 25
    assert np.array_equal(ds.pixel_array, clip.data)


def test_cancel_a_recording_keeps_the_frames_read(make_napari_viewer, qtbot, clip_file):
    viewer = make_napari_viewer()
    widget = open_capture_dock(viewer, qtbot)
    widget.set_video_file(clip_file)
    widget.video_box.record_amount.setValue(30)
    reached, release = pause_at_progress(
        widget.video_box.record_progressed, lambda done, _: done == 3
    )
    seen = len(notification_manager.records)

    qtbot.mouseClick(widget.video_box.record_button, Qt.MouseButton.LeftButton)
    worker = widget.worker
    qtbot.waitUntil(reached.is_set, timeout=15000)
    qtbot.mouseClick(widget.cancel_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(worker.finished, timeout=15000):
        release.set()

    (clip,) = viewer.layers
    assert clip.data.shape[0] == 3 and clip.metadata["ezp2p"]["frame_time_ms"] == 40
    assert any("cancelled: kept 3 frames" in m for m in messages(seen)), messages(seen)


def test_errors_are_notifications_missing_device_and_size_limit(
    make_napari_viewer, qtbot, clip_file, monkeypatch
):
    gone = VideoDevice("/dev/video99", "Gone camera")
    monkeypatch.setattr(capture_widget, "list_video_devices", lambda: [gone])
    viewer = make_napari_viewer()
    widget = open_capture_dock(viewer, qtbot)
    widget.select_source(DEVICE, gone.path)
    seen = len(notification_manager.records)
    click_and_wait(qtbot, widget, widget.video_box.grab_button)
    click_and_wait(qtbot, widget, widget.video_box.record_button)
    errors = [m for m in messages(seen) if "no video device /dev/video99" in m]
    assert len(errors) == 2, messages(seen)
    assert "/dev/video99" in widget.status_label.text()
    assert len(viewer.layers) == 0

    widget.set_video_file(clip_file)
    widget.video_box.max_clip_bytes = 4 * WIDTH * HEIGHT * 3
    widget.video_box.record_amount.setValue(5)
    seen = len(notification_manager.records)
    click_and_wait(qtbot, widget, widget.video_box.record_button)
    assert any("over the limit" in m for m in messages(seen)), messages(seen)
    assert len(viewer.layers) == 0


def test_preview_updates_one_layer_and_stops_with_the_dock(make_napari_viewer, qtbot, clip_file):
    viewer = make_napari_viewer()
    widget = open_capture_dock(viewer, qtbot)
    widget.video_box.preview_interval = 0.02
    widget.set_video_file(clip_file)
    qtbot.mouseClick(widget.video_box.preview_button, Qt.MouseButton.LeftButton)
    worker = widget.video_box.preview_worker
    assert worker is not None and widget.video_box.preview_button.text() == "Stop"
    qtbot.waitUntil(lambda: len(viewer.layers) == 1, timeout=10000)
    (preview,) = viewer.layers
    shown = set()
    qtbot.waitUntil(
        lambda: shown.add(int(preview.data[0, 0, 0])) or len(shown) >= 3, timeout=10000
    )
    assert len(viewer.layers) == 1, "the preview updates one layer"

    qtbot.mouseClick(
        widget.video_box.grab_button, Qt.MouseButton.LeftButton
    )  # the frame shown now
    assert viewer.layers[-1].name == "ward round frame" and len(viewer.layers) == 2

    with qtbot.waitSignal(worker.finished, timeout=10000):
        qtbot.mouseClick(widget.video_box.preview_button, Qt.MouseButton.LeftButton)
    assert [layer.name for layer in viewer.layers] == ["ward round frame"]

    qtbot.mouseClick(widget.video_box.preview_button, Qt.MouseButton.LeftButton)
    worker = widget.video_box.preview_worker
    qtbot.waitUntil(lambda: len(viewer.layers) == 2, timeout=10000)
    with qtbot.waitSignal(worker.finished, timeout=10000):
        viewer.window.remove_dock_widget(widget)  # closing the dock stops the preview
    assert [layer.name for layer in viewer.layers] == ["ward round frame"]


def test_closing_the_viewer_stops_the_preview(make_napari_viewer, qtbot, clip_file):
    viewer = make_napari_viewer()
    widget = open_capture_dock(viewer, qtbot)
    widget.set_video_file(clip_file)
    qtbot.mouseClick(widget.video_box.preview_button, Qt.MouseButton.LeftButton)
    worker = widget.video_box.preview_worker
    qtbot.waitUntil(lambda: len(viewer.layers) == 1, timeout=10000)
    with qtbot.waitSignal(worker.finished, timeout=10000):
        viewer.close()


def test_every_page_of_the_feeder_becomes_a_layer(make_napari_viewer, qtbot, sane_test_backend):
    viewer = make_napari_viewer()
    widget = open_capture_dock(viewer, qtbot)
    choose_scanner(qtbot, widget, sane_test_backend, 50.0, 8)
    assert (
        widget.scanner_box.feeder_check.isEnabled()
    )  # the test scanner has an "Automatic Document Feeder"
    widget.scanner_box.feeder_check.setChecked(True)
    assert not widget.scanner_box.scan_source.isEnabled()  # the feeder is the source
    widget.scanner_box.kind.setCurrentIndex(widget.scanner_box.kind.findData("SD"))
    click_and_wait(qtbot, widget, widget.scanner_box.scan_button)
    names = [layer.name for layer in viewer.layers]
    assert names == [f"{sane_test_backend} page {n}" for n in range(1, 11)]
    assert {layer.metadata["ezp2p"]["conversion_type"] for layer in viewer.layers} == {"SD"}
    assert {layer.metadata["source"] for layer in viewer.layers} == {sane_test_backend}

    widget.scanner_box.feeder_check.setChecked(False)  # one scan again, from the chosen source
    assert widget.scanner_box.scan_source.isEnabled()
    click_and_wait(qtbot, widget, widget.scanner_box.scan_button)
    assert viewer.layers[-1].name == sane_test_backend and len(viewer.layers) == 11


def test_a_burst_of_progress_does_not_nest(make_napari_viewer, qtbot):
    # napari's progress bar processes Qt events as its value changes: each queued progress
    # signal used to be handled inside the previous one, until the Python stack ran out.
    viewer = make_napari_viewer()
    widget = open_capture_dock(viewer, qtbot)
    widget.begin("Scanning", 1000)

    def burst() -> None:  # from another thread, as a worker does: the signals are queued
        for done in range(1, 1001):
            widget.video_box.record_progressed.emit(done, 1000)

    thread = threading.Thread(target=burst)
    thread.start()
    thread.join()  # all 1000 wait in the event queue
    qtbot.waitUntil(lambda: widget.progress_bar.value() == 1000, timeout=10000)
    assert widget._progress.n == 1000
    widget._on_finished()
