"""Send what you see: napari's own rendering on the image's pixel grid, and the layer menu."""

from __future__ import annotations

import numpy as np
import pytest
from app_model.backends.qt import QModelMenu
from pydicom import dcmread
from qtpy.QtCore import Qt

from napari_ezp2p._napari import menus
from napari_ezp2p._napari.rendering import (
    RenderError,
    label_values,
    render_view,
    view_description,
)
from napari_ezp2p._napari.session import session_for


def napari_colours(layer, values) -> np.ndarray:
    """What napari's own colormap object makes of ``values`` under the layer's contrast
    limits and gamma, as 0..255."""
    low, high = layer.contrast_limits
    normalised = np.clip((np.asarray(values, float) - low) / (high - low), 0, 1) ** layer.gamma
    return layer.colormap.map(normalised.ravel()).reshape(*np.shape(values), 4)[..., :3] * 255


def test_the_current_slice_is_rendered_on_the_image_grid_and_the_view_comes_back(
    make_napari_viewer,
):
    viewer = make_napari_viewer(show=True)
    stack = np.random.default_rng(3).integers(0, 4000, (4, 40, 56)).astype(np.uint16)
    film = viewer.add_image(
        stack, name="film", colormap="inferno", gamma=0.5, contrast_limits=(500, 3500)
    )
    viewer.dims.set_current_step(0, 1)
    viewer.scene.camera.zoom, viewer.scene.camera.center = 3.0, (10.0, 12.0)
    kept = (viewer.scene.camera.zoom, viewer.scene.camera.center, viewer.dims.current_step)

    image = render_view(viewer)
    assert image.shape == (1, 40, 56, 3) and image.conversion_type == "WSD"
    assert image.burned_in_annotation
    difference = np.abs(image.pixels[0].astype(int) - napari_colours(film, stack[1]).round())
    assert difference.max() <= 2, "colormap, gamma and contrast as napari draws them"

    frames = render_view(viewer, axis=0, indices=[3, 0])
    assert frames.shape == (2, 40, 56, 3)
    for frame, index in zip(frames.pixels, (3, 0), strict=True):
        assert np.abs(frame.astype(int) - napari_colours(film, stack[index]).round()).max() <= 2
    assert (viewer.scene.camera.zoom, viewer.scene.camera.center, viewer.dims.current_step) == kept


def test_an_invisible_layer_neither_draws_nor_widens_the_grid(make_napari_viewer):
    viewer = make_napari_viewer(show=True)
    viewer.add_image(np.full((30, 20), 128, np.uint8), name="film")
    hidden = [[-20, -20], [60, 60]]
    viewer.add_shapes([hidden], shape_type="rectangle", name="far", visible=False)
    viewer.add_points([[5, 5]], name="dot", size=3, face_color="red")
    assert render_view(viewer).shape == (1, 30, 20, 3)
    assert view_description(viewer) == "Rendered view: film, dot"


def test_what_cannot_be_rendered_is_refused_with_the_reason(make_napari_viewer):
    viewer = make_napari_viewer(show=True)
    with pytest.raises(RenderError, match="show an image or labels layer"):
        render_view(viewer)
    viewer.add_image(np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(RenderError, match="non-displayed axis"):
        render_view(viewer, axis=2, indices=[0])
    viewer.dims.ndisplay = 3
    with pytest.raises(RenderError, match="switch the viewer to 2D"):
        render_view(viewer)


def test_a_view_that_cannot_be_rendered_takes_no_send_from_the_session(make_napari_viewer):
    viewer = make_napari_viewer(show=True)
    viewer.add_image(np.zeros((8, 8), np.uint8))
    viewer.dims.ndisplay = 3
    session = session_for(viewer)
    before = (session.study, session.metadata)
    assert menus.send_view_to_pacs(viewer) is None  # refused: the viewer shows 3D
    assert (session.study, session.metadata) == before


def test_label_values_stay_values():
    small = label_values(np.array([[0, 3], [7, 255]], np.int32))
    assert small.dtype == np.uint8 and small.tolist() == [[0, 3], [7, 255]]
    assert label_values(np.array([0, 300], np.int64)).dtype == np.uint16
    with pytest.raises(RenderError, match="relabel"):
        label_values(np.array([-1, 2]))


def _right_click_action(qtbot, viewer, title):
    layer_list = viewer.window._qt_viewer.layers
    row = layer_list.visualRect(layer_list.model().index(0, 0))
    qtbot.mouseClick(layer_list.viewport(), Qt.MouseButton.RightButton, pos=row.center())
    (action,) = [a for a in layer_list.itemDelegate()._context_menu.actions() if a.text() == title]
    assert action.isVisible() and action.isEnabled()
    return action


def test_the_layer_menu_sends_what_you_see(make_napari_viewer, qtbot, two_stores, monkeypatch):
    viewer = make_napari_viewer(show=True)
    film = viewer.add_image(np.linspace(0, 255, 24 * 32).reshape(24, 32).astype(np.uint8))
    film.name = "film"
    labels = np.zeros((24, 32), np.uint8)
    labels[4:10, 4:10] = 2
    viewer.add_labels(labels, name="nodule", opacity=1.0)
    session_for(viewer).destinations = ("A", "B")
    menus.ensure_context_menu()
    workers = []
    start_send = menus.start_send
    monkeypatch.setattr(menus, "start_send", lambda job: workers.append(start_send(job)))
    monkeypatch.setattr(QModelMenu, "exec_", lambda self, *args, **kwargs: None)

    _right_click_action(qtbot, viewer, menus.VIEW_TITLE).trigger()
    (worker,) = workers
    with qtbot.waitSignal(worker.finished, timeout=30000):
        pass  # finished is delivered by the event loop, which runs only from here on
    received = [dcmread(path) for store in two_stores for path in store.received()]
    assert len(received) == 2 and received[0].SOPInstanceUID == received[1].SOPInstanceUID
    ds = received[1]  # B keeps explicit VR little endian: the pixels as rendered
    assert (ds.SamplesPerPixel, ds.BurnedInAnnotation, ds.ConversionType) == (3, "YES", "WSD")
    assert ds.SeriesDescription == "Rendered view: film, nodule"
    pixels = ds.pixel_array
    assert pixels.shape == (24, 32, 3)
    colour = viewer.layers["nodule"].get_color(2)[:3] * 255
    assert np.abs(pixels[6, 6].astype(int) - colour.round()).max() <= 2
    assert np.abs(pixels[20, 20].astype(int) - napari_colours(film, film.data[20, 20])).max() <= 2


def test_the_layer_menu_lets_a_labels_layer_in(make_napari_viewer, qtbot, monkeypatch):
    viewer = make_napari_viewer(show=True)
    viewer.add_labels(np.zeros((8, 8), np.uint8), name="mask")
    menus.ensure_context_menu()
    monkeypatch.setattr(QModelMenu, "exec_", lambda self, *args, **kwargs: None)
    _right_click_action(qtbot, viewer, menus.TITLE)
