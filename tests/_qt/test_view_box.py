"""The Send dock's "Send what you see" and a Labels layer sent alone, against Orthanc."""

from __future__ import annotations

import dataclasses
import io
import urllib.request

import numpy as np
import pytest
from pydicom import dcmread
from qtpy.QtCore import Qt

from napari_ezp2p._napari.session import session_for
from napari_ezp2p._qt.send_widget import SendWidget
from napari_ezp2p._qt.view_box import CHOSEN_SLICES, EVERY_SLICE
from tests._napari.test_rendering import napari_colours
from tests._qt.helpers import click
from tests._qt.test_slices_box import choose, enter


@pytest.fixture
def pacs(orthanc, settings):
    """An Orthanc, the default destination of this test's config and outbox."""
    server = orthanc()
    settings("pacs", server.destination.address)
    return server


def stored(server):
    """The one instance Orthanc holds, read back from its file."""
    (instance,) = server.rest("/instances")
    with urllib.request.urlopen(f"{server.http}/instances/{instance}/file", timeout=10) as answer:
        return dcmread(io.BytesIO(answer.read()))


def open_send_dock(qtbot, viewer) -> SendWidget:
    dock, widget = viewer.window.add_plugin_dock_widget("napari-ezp2p", "Send")
    assert isinstance(widget, SendWidget)
    qtbot.waitUntil(dock.isVisible)
    return widget


def send_and_wait(qtbot, widget: SendWidget, button) -> None:
    started = widget.worker
    click(qtbot, button)
    assert widget.worker is not started, "the click started no worker"
    with qtbot.waitSignal(widget.worker.finished, timeout=30000):
        pass
    qtbot.waitUntil(lambda: widget.send_button.isEnabled(), timeout=5000)


def test_send_what_you_see_burns_labels_and_shapes_into_the_image(make_napari_viewer, qtbot, pacs):
    viewer = make_napari_viewer(show=True)
    session = session_for(viewer)
    session.metadata = dataclasses.replace(session.metadata, patient_name="SEEN^SAM")
    film_pixels = np.random.default_rng(5).integers(0, 4000, (72, 96)).astype(np.uint16)
    film = viewer.add_image(
        film_pixels, name="film", colormap="viridis", gamma=0.7, contrast_limits=(800, 3200)
    )
    mask = np.zeros((72, 96), np.uint8)
    mask[10:25, 10:30] = 4
    labels = viewer.add_labels(mask, name="labels", opacity=1.0)
    rectangle = [[40, 20], [64, 80]]
    viewer.add_shapes(
        [rectangle],
        shape_type="rectangle",
        name="shapes",
        edge_color="red",
        face_color="transparent",
        edge_width=4,
        opacity=1.0,
    )
    zoom, center = viewer.scene.camera.zoom, viewer.scene.camera.center
    widget = open_send_dock(qtbot, viewer)
    assert widget.view_box.slices_combo.currentText() == "current slice"

    send_and_wait(qtbot, widget, widget.view_box.send_button)

    ds = stored(pacs)
    assert ds.BurnedInAnnotation == "YES" and ds.ConversionType == "WSD"
    assert ds.PhotometricInterpretation == "RGB" and ds.SamplesPerPixel == 3
    assert ds.SeriesDescription == "Rendered view: film, labels, shapes"
    assert ds.PatientName == "SEEN^SAM"
    pixels = ds.pixel_array.astype(int)
    assert pixels.shape == (72, 96, 3), "the image's own pixel grid, not the screen's"
    label_colour = np.round(labels.get_color(4)[:3] * 255)
    assert np.abs(pixels[11:24, 11:29] - label_colour).max() <= 2
    edge = pixels[40, 30:70]  # the top edge of the rectangle, away from its corners
    assert np.abs(edge - (255, 0, 0)).max() <= 8, edge
    elsewhere = np.ones((72, 96), bool)
    elsewhere[8:27, 8:32] = False  # the label, and a pixel of antialiasing around it
    elsewhere[36:69, 16:85] = False  # the rectangle and its edge
    expected = np.round(napari_colours(film, film_pixels))
    assert np.abs(pixels[elsewhere] - expected[elsewhere]).max() <= 2
    assert (viewer.scene.camera.zoom, viewer.scene.camera.center) == (zoom, center)
    assert {(row[0], row[2]) for row in widget.statuses()} == {("Rendered view", "sent")}


def test_every_slice_of_a_stack_is_one_multi_frame_colour_object(make_napari_viewer, qtbot, pacs):
    viewer = make_napari_viewer(show=True)
    stack = np.random.default_rng(9).integers(0, 255, (5, 64, 64)).astype(np.uint8)
    film = viewer.add_image(stack, name="stack")
    viewer.dims.set_current_step(0, 2)
    session = session_for(viewer)  # a study and series picked from a query, say
    session.metadata = dataclasses.replace(
        session.metadata, study_instance_uid="1.2.826.0.1.7", series_instance_uid="1.2.826.0.1.8"
    )
    widget = open_send_dock(qtbot, viewer)
    combo = widget.view_box.slices_combo
    combo.setCurrentIndex(combo.findData(EVERY_SLICE))
    assert combo.currentText() == "every slice of axis 0"

    send_and_wait(qtbot, widget, widget.view_box.send_button)

    ds = stored(pacs)
    assert int(ds.NumberOfFrames) == 5 and ds.SamplesPerPixel == 3
    assert ds.BurnedInAnnotation == "YES"
    assert ds.StudyInstanceUID == "1.2.826.0.1.7", "the session's study"
    assert ds.SeriesInstanceUID != "1.2.826.0.1.8", "a series of its own, not the raw image's"
    frames = ds.pixel_array.astype(int)
    assert frames.shape == (5, 64, 64, 3)
    for index in range(5):
        expected = np.round(napari_colours(film, stack[index]))
        assert np.abs(frames[index] - expected).max() <= 2, f"frame {index}"
    assert viewer.dims.current_step[0] == 2, "the slice shown comes back"


def test_the_slices_chosen_in_the_slices_row_are_rendered(make_napari_viewer, qtbot, pacs):
    viewer = make_napari_viewer(show=True)
    stack = np.random.default_rng(3).integers(0, 255, (6, 48, 40)).astype(np.uint8)
    film = viewer.add_image(stack, name="stack")
    widget = open_send_dock(qtbot, viewer)
    choose(qtbot, widget.slices_box.what_combo, "range")
    enter(qtbot, widget.slices_box.start_spin, 1)
    enter(qtbot, widget.slices_box.stop_spin, 3)
    combo = widget.view_box.slices_combo
    combo.setCurrentIndex(combo.findData(CHOSEN_SLICES))

    send_and_wait(qtbot, widget, widget.view_box.send_button)

    frames = stored(pacs).pixel_array.astype(int)
    assert frames.shape == (3, 48, 40, 3)
    for frame, index in zip(frames, (1, 2, 3), strict=True):
        assert np.abs(frame - np.round(napari_colours(film, stack[index]))).max() <= 2


def test_a_labels_layer_goes_alone_as_its_grey_values(make_napari_viewer, qtbot, pacs):
    viewer = make_napari_viewer(show=True)
    viewer.add_image(np.zeros((32, 40), np.uint8), name="film")
    mask = np.zeros((32, 40), np.int32)  # napari's labels are often int32
    mask[4:12, 5:15], mask[20:30, 20:38] = 1, 7
    viewer.add_labels(mask, name="segmentation")
    widget = open_send_dock(qtbot, viewer)
    rows = {widget.layer_list.item(row).text(): row for row in range(widget.layer_list.count())}
    assert set(rows) == {"film", "segmentation"}
    item = widget.layer_list.item(rows["segmentation"])
    assert item.checkState() == Qt.CheckState.Checked  # the new layer is napari's selection

    send_and_wait(qtbot, widget, widget.send_button)

    ds = stored(pacs)
    assert ds.PhotometricInterpretation == "MONOCHROME2" and ds.BitsAllocated == 8
    assert ds.SeriesDescription == "segmentation"
    assert np.array_equal(ds.pixel_array, mask), "the label values, usable as a segmentation"
