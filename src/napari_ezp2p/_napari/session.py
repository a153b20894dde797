"""What one viewer's docks share, and how a layer becomes an image to send.

Every dock of a viewer (Study, Destinations, Send, Window/Level) and the layer menu's
"Send layer to PACS" work on the same :class:`Session`, found with
:func:`session_for`. The work itself is the same Python API as the ``ezp2p`` command
(``napari_ezp2p.jobs``); this module only adapts napari layers to it.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np
from psygnal import evented

from ..core.image import SourceImage, image_from_array
from ..core.metadata import Metadata
from .provenance import source_fields, spacing_in_mm, with_source_bitstream


@evented
@dataclass
class Session:
    """The study the next send attaches to, where it goes and how it is encoded.

    ``metadata`` comes from the Study dock (typed, or picked from a query, in which
    case its ``queried`` values make later edits show as coerced). ``destinations``
    are configured names or ``AET@host:port``; empty means the configured default.
    ``transfer_syntax`` is a key of core.transfer; empty lets
    ``jobs.inputs.SyntaxChoice`` choose (a JPEG as it is, else explicit VR little endian
    or the lossless syntax every destination prefers). Connect to ``session.events``.
    """

    metadata: Metadata = field(default_factory=Metadata)
    destinations: tuple[str, ...] = ()
    transfer_syntax: str = ""


_sessions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def session_for(viewer) -> Session:
    """The session of ``viewer``, made on first use and gone with the viewer."""
    session = _sessions.get(viewer)
    if session is None:
        session = _sessions[viewer] = Session()
    return session


#: Metadata fields a layer carries for its own image (set by our readers and the
#: Capture dock in ``layer.metadata["ezp2p"]``), as opposed to the shared study.
PER_IMAGE_FIELDS = ("conversion_type", "pixel_spacing", "frame_time_ms")


@dataclass(frozen=True)
class LayerImage:
    """An image layer as the core wants it: pixels, the window the viewer shows (in
    the layer's own values), the rescale that restores them, the layer's name, and the
    per-image Metadata fields it carries (conversion type, pixel spacing, frame time,
    the VOI LUT function of its window)."""

    image: SourceImage
    window: tuple[float, float] | None
    rescale: tuple[float, float] | None
    name: str
    carried: dict = field(default_factory=dict)

    @property
    def overrides(self) -> dict:
        """Metadata fields for this image alone, for ``jobs.send.SendItem``."""
        return {"window": self.window, "rescale": self.rescale, **self.carried}


def layer_image(
    data,
    *,
    rgb: bool,
    contrast_limits=None,
    name: str = "",
    metadata=None,
    scale=None,
    units=None,
) -> LayerImage:
    """Adapt an image layer's data, display and metadata to the core (the writer, the
    Send dock and the layer menu all go through here).

    The window is the contrast limits exactly: for float data, or a window narrower than
    one unit, with VOI LUT Function LINEAR_EXACT (LINEAR needs a width of 1 at least and
    maps the limits one unit off). The scale is the pixel spacing when its units are
    lengths, and a layer read from a file keeps what the file said
    (:mod:`.provenance`), its JPEG bitstream too when its pixels are the file's.
    """
    data, metadata = np.asarray(data), metadata or {}
    spacing = spacing_in_mm(scale, units)
    fields = {**source_fields(metadata), "pixel_spacing": spacing}
    image, rescale = image_from_array(data, rgb=rgb, **fields)
    image = with_source_bitstream(image, metadata)
    carried = {}
    if not rgb and contrast_limits is not None:
        low, high = (float(v) for v in contrast_limits)
        width = high - low if high > low else 1.0
        if width < 1 or data.dtype.kind == "f":
            carried["voi_lut_function"] = "LINEAR_EXACT"
        window = ((low + high) / 2, width)
    else:
        window = None
    own = metadata.get("ezp2p") or {}
    carried.update({key: own[key] for key in PER_IMAGE_FIELDS if own.get(key)})
    return LayerImage(image, window, rescale, name, carried)


@dataclass(frozen=True)
class LayerSnapshot:
    """What sending needs of an image layer, taken on the main thread without copying
    its pixels; :meth:`image` converts them later, off the event loop."""

    name: str
    data: object
    rgb: bool
    contrast_limits: tuple[float, float] | None
    metadata: dict
    scale: tuple[float, ...] | None = None
    units: tuple[str, ...] | None = None
    labels: bool = False  # a Labels layer: its values go as grey (rendering.label_values)

    @classmethod
    def of(cls, layer) -> LayerSnapshot:
        """The layer as it is; of a multiscale layer, its full resolution (level 0),
        whose scale is the layer's."""
        from napari.layers import Labels

        labels = isinstance(layer, Labels)
        rgb = bool(getattr(layer, "rgb", False))
        limits = None if rgb or labels else tuple(layer.contrast_limits)
        data = layer.data[0] if layer.multiscale else layer.data
        units = tuple(str(unit) for unit in layer.units)
        metadata = dict(layer.metadata or {})
        scale = tuple(layer.scale)
        return cls(layer.name, data, rgb, limits, metadata, scale, units, labels)

    def image(self) -> LayerImage:
        data, limits = self.data, self.contrast_limits
        if self.labels:
            from .rendering import label_values

            data = label_values(data)
            limits = (0, max(int(data.max()), 1))  # every label value told apart
        return layer_image(
            data,
            rgb=self.rgb,
            contrast_limits=limits,
            name=self.name,
            metadata=self.metadata,
            scale=self.scale,
            units=self.units,
        )
