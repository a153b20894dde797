"""Send what you see: the visible layers as napari's own canvas renders them.

:func:`render_view` sets the camera so that one pixel of the bottom visible image (or
labels) layer is one output pixel, has napari render the canvas at that size
(``Viewer.screenshot(size=..., canvas_only=True)``: colormaps, gamma, contrast,
labels, shapes, points and text as shown), and restores the user's camera and slice.
It needs the GL canvas, so it runs on the main thread; the encoding and sending of what
it returns run off the event loop (:func:`.sending.send_layers`).

The layers drawn, not only the image: :func:`view_send` sends the rendering as an RGB
(multi-frame for several slices) Secondary Capture of its own series, Burned In
Annotation YES, conversion type WSD.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from ..core.errors import Ezp2pError
from ..core.image import SourceImage
from ..core.metadata import Metadata
from .provenance import spacing_in_mm
from .sending import LayerSend, RenderedView

#: The status label and the start of the series description of a rendered view.
RENDERED_VIEW = "Rendered view"


class RenderError(Ezp2pError):
    """The view cannot be rendered as asked (nothing shown, 3D, a displayed axis)."""


def render_view(
    viewer, axis: int | None = None, indices: Sequence[int] | None = None
) -> SourceImage:
    """The visible layers as the canvas shows them, on the image's own pixel grid.

    Without ``indices``, the current slice (one frame); else one frame per index of the
    non-displayed ``axis`` (a world axis of the viewer), the slice shown again after.
    Main thread only (GL). Raises RenderError when nothing can be rendered so.
    """
    base = reference_layer(viewer)
    if viewer.dims.ndisplay != 2:
        raise RenderError("Send what you see renders the 2D view: switch the viewer to 2D.")
    if indices is not None:
        if axis is None or axis in viewer.dims.displayed or not 0 <= axis < viewer.dims.ndim:
            raise RenderError(f"slices are taken along a non-displayed axis, not {axis}")
        if not indices:
            raise RenderError("no slice to render")
    size, center, step = _pixel_grid(viewer, base)
    camera, dims = viewer.scene.camera, viewer.dims
    kept = (camera.center, camera.zoom, dims.current_step)
    try:
        camera.center = center
        camera.zoom = 1 / (step * _device_pixel_ratio(viewer))
        frames = []
        for index in [None] if indices is None else indices:
            if index is not None:
                dims.set_current_step(axis, int(index))
            frames.append(_render(viewer, size))
    finally:
        dims.current_step = kept[2]
        camera.center, camera.zoom = kept[:2]
    units = [str(unit) for unit in base.units[-2:]]
    return SourceImage.from_array(
        np.stack(frames),
        rgb=True,
        conversion_type="WSD",
        burned_in_annotation=True,
        pixel_spacing=spacing_in_mm((step, step), units),
    )


def reference_layer(viewer):
    """The layer whose pixel grid the rendering takes: the bottom visible image layer,
    else the bottom visible labels layer."""
    from napari.layers import Image, Labels

    for kind in (Image, Labels):
        for layer in _visible(viewer):
            if isinstance(layer, kind):
                return layer
    raise RenderError("Nothing to render: show an image or labels layer.")


def view_description(viewer) -> str:
    """ "Rendered view: film, labels, shapes": the visible layers, bottom first."""
    return f"{RENDERED_VIEW}: {', '.join(layer.name for layer in _visible(viewer))}"


def first_hidden_axis(viewer) -> int | None:
    """The first axis not displayed, whose every slice "every slice" renders; None
    for a 2D viewer."""
    hidden = viewer.dims.not_displayed
    return hidden[0] if hidden else None


def every_slice(viewer) -> tuple[int | None, list[int] | None]:
    """``(axis, indices)`` of every slice of :func:`first_hidden_axis` (the current slice
    alone for a 2D viewer)."""
    axis = first_hidden_axis(viewer)
    if axis is None:
        return None, None
    return axis, list(range(int(viewer.dims.nsteps[axis])))


def chosen_slices(viewer) -> tuple[int | None, list[int] | None]:
    """``(axis, indices)`` of the Send dock's Slices choice (:mod:`.slices`) for the
    layer the view is rendered on; the current slice alone for a 2-D layer."""
    from .slices import SliceError, choice_for, current_position, plan_slices

    layer = reference_layer(viewer)
    data = layer.data[0] if layer.multiscale else layer.data
    try:
        plan = plan_slices(
            np.shape(data),
            rgb=bool(getattr(layer, "rgb", False)),
            choice=choice_for(layer),
            position=current_position(layer, viewer),
        )
    except SliceError as error:
        raise RenderError(f"{layer.name}: {error}") from None
    if plan.axis is None:
        return None, None
    return plan.axis + viewer.dims.ndim - layer.ndim, list(plan.indices)


def view_send(
    viewer,
    metadata: Callable[[], Metadata],
    destinations: Sequence[str] = (),
    transfer_syntax: str = "",
    axis: int | None = None,
    indices: Sequence[int] | None = None,
) -> LayerSend:
    """Render the view (main thread) and the job that sends it, in the study of
    ``metadata()`` but a series of its own (the rendering is another thing than the raw
    image). ``metadata`` is called once the view is rendered: a view that cannot be
    rendered takes no send from the session's study."""
    view = RenderedView(
        RENDERED_VIEW, render_view(viewer, axis, indices), view_description(viewer)
    )
    own_series = dataclasses.replace(metadata(), series_instance_uid="")
    return LayerSend((), own_series, tuple(destinations), transfer_syntax, views=(view,))


def label_values(data) -> np.ndarray:
    """A labels layer's values as grey pixels: 8-bit when they fit, else 16-bit, so
    that the segmentation stays usable. Raises RenderError for values beyond that."""
    array = np.asarray(data)
    low, high = (int(array.min()), int(array.max())) if array.size else (0, 0)
    if low < 0 or high > 65535:
        raise RenderError(
            f"label values {low}..{high} do not fit 16-bit grey pixels: relabel them 0..65535"
        )
    return array.astype(np.uint8 if high < 256 else np.uint16)


# --------------------------------------------------------------------------- helpers


def _visible(viewer) -> list:
    return [layer for layer in viewer.layers if layer.visible and layer.opacity > 0]


def _pixel_grid(viewer, layer) -> tuple[tuple[int, int], tuple[float, float], float]:
    """The output size, the camera center (world) and the world step of one output pixel
    that put one pixel of ``layer`` on one output pixel (its finest axis, for a layer
    whose pixels are not square)."""
    shape = layer.level_shapes[0] if layer.multiscale else np.shape(layer.data)
    offset = viewer.dims.ndim - layer.ndim
    axes = [axis - offset for axis in viewer.dims.displayed]
    if min(axes) < 0:
        raise RenderError(f"{layer.name} does not span the displayed axes")
    scale = np.asarray(layer.scale, float)[axes]
    translate = np.asarray(layer.translate, float)[axes]
    extent = np.asarray(shape, float)[axes]
    step = float(scale.min())
    size = tuple(int(round(v)) for v in extent * scale / step)
    center = tuple(float(v) for v in translate + scale * (extent - 1) / 2)
    return size, center, step


def _device_pixel_ratio(viewer) -> float:
    """Physical pixels per canvas pixel (2 on a HiDPI screen): napari sizes a screenshot
    in physical pixels but zooms in canvas ones. Measured with public API alone: the
    canvas as it is, in physical pixels, against its size."""
    shot = viewer.screenshot(canvas_only=True, flash=False)
    return shot.shape[1] / viewer.canvas.size[1]


def _render(viewer, size: tuple[int, int]) -> np.ndarray:
    shot = viewer.screenshot(size=size, canvas_only=True, flash=False)
    if shot.shape[:2] != size:
        raise RenderError(f"napari rendered {shot.shape[:2]} pixels, not {size}")
    return np.ascontiguousarray(shot[..., :3])
