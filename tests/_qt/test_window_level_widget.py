"""The Window/Level dock: what it shows and sets is the window that gets written."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom import dcmread
from qtpy.QtCore import Qt

from napari_ezp2p._napari.session import layer_image
from napari_ezp2p._napari.writer import write_dicom
from napari_ezp2p._qt.window_level_widget import AUTO, WindowLevelWidget


def film_scan() -> np.ndarray:
    """A 12-bit film scan in 16 bits: a gradient with noise (max below 4096)."""
    rng = np.random.default_rng(3)
    ramp = np.linspace(300, 3800, 120)[None, :] * np.ones((100, 1))
    return np.clip(ramp + rng.normal(0, 40, ramp.shape), 0, 4095).astype(np.uint16)


@pytest.fixture
def viewer_and_dock(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    film = viewer.add_image(film_scan(), name="film", contrast_limits=(1000, 3000))
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-ezp2p", "Window/Level")
    assert isinstance(widget, WindowLevelWidget)
    return viewer, film, widget


def written_window(tmp_path, layer) -> tuple[float, float]:
    data, attributes, _kind = layer.as_layer_data_tuple()
    (path,) = write_dicom(str(tmp_path / "w.dcm"), data, attributes)
    ds = dcmread(path)
    return float(ds.WindowCenter), float(ds.WindowWidth)


def test_sliders_set_the_contrast_limits_that_get_written(viewer_and_dock, qtbot, tmp_path):
    _viewer, film, widget = viewer_and_dock
    assert widget.centre.value() == 2000 and widget.width.value() == 2000
    assert widget.centre.slider.maximum() == 4095  # 12-bit range, one step per value

    widget.centre.slider.setValue(1800)
    assert tuple(film.contrast_limits) == (800, 2800)
    widget.width.slider.setFocus()
    qtbot.keyClick(widget.width.slider, Qt.Key.Key_PageDown)
    low, high = film.contrast_limits
    assert (low + high) / 2 == 1800 and high - low < 2000
    widget.width.spin.setValue(600)
    assert tuple(film.contrast_limits) == (1500, 2100)

    # The other way: napari's own contrast slider moves ours.
    film.contrast_limits = (100, 4000)
    assert (widget.centre.value(), widget.width.value()) == (2050, 3900)
    assert widget.histogram.window == (100, 4000)

    assert written_window(tmp_path, film) == (2050, 3900)
    assert layer_image(film.data, rgb=False, contrast_limits=film.contrast_limits).window == (
        2050,
        3900,
    )


def test_presets(viewer_and_dock):
    _viewer, film, widget = viewer_and_dock
    combo = widget.preset_combo
    combo.setCurrentIndex(combo.findText(AUTO))
    expected = np.percentile(film.data, [0.5, 99.5])
    assert np.allclose(film.contrast_limits, expected)
    assert combo.currentIndex() == 0  # ready for the next choice

    combo.setCurrentIndex(combo.findText("Full range"))
    assert tuple(film.contrast_limits) == (0, 4095)
    combo.setCurrentIndex(combo.findText("Film: dense"))
    assert np.allclose(film.contrast_limits, (0, 4095 * 0.5))
    assert widget.histogram.counts.sum() == film.data.size


def click_invert(qtbot, widget: WindowLevelWidget) -> None:
    """Click "Invert grey levels" and wait until its worker's result is set: the button
    waits off meanwhile."""
    started = widget.inverting
    qtbot.mouseClick(widget.invert_button, Qt.MouseButton.LeftButton)
    assert widget.inverting is not started, "the click started no worker"
    assert not widget.invert_button.isEnabled()
    qtbot.waitUntil(widget.invert_button.isEnabled, timeout=30000)


def test_invert_rewrites_the_pixels_and_mirrors_the_window(viewer_and_dock, qtbot, tmp_path):
    _viewer, film, widget = viewer_and_dock
    original = film.data.copy()
    low, high = int(original.min()), int(original.max())
    click_invert(qtbot, widget)
    assert film.data.dtype == np.uint16
    assert np.array_equal(film.data, low + high - original.astype(np.int64))
    assert tuple(film.contrast_limits) == (low + high - 3000, low + high - 1000)
    assert written_window(tmp_path, film) == (low + high - 2000, 2000)
    assert dcmread(tmp_path / "w.dcm").PhotometricInterpretation == "MONOCHROME2"
    click_invert(qtbot, widget)
    assert np.array_equal(film.data, original)
    assert tuple(film.contrast_limits) == (1000, 3000)


def test_follows_the_active_layer_and_leaves_colour_alone(viewer_and_dock):
    viewer, film, widget = viewer_and_dock
    photo = viewer.add_image(np.zeros((10, 10, 3), np.uint8), name="photo", rgb=True)
    assert viewer.layers.selection.active is photo
    assert not widget.controls.isEnabled() and not widget.invert_button.isEnabled()
    assert "colour" in widget.hint.text()

    other = viewer.add_image(np.linspace(-5, 5, 100).reshape(10, 10), name="float")
    other.contrast_limits = (-1, 3)
    assert widget.controls.isEnabled()
    assert (widget.centre.value(), widget.width.value()) == (1, 4)
    widget.centre.spin.setValue(0)
    assert tuple(other.contrast_limits) == (-2, 2)
    assert tuple(film.contrast_limits) == (1000, 3000)  # only the active layer changes

    viewer.layers.selection.active = film
    assert (widget.centre.value(), widget.width.value()) == (2000, 2000)
