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

from ..config import Config
from ..core.image import SourceImage, image_from_array
from ..core.metadata import Metadata
from .provenance import source_fields, spacing_in_mm, with_source_bitstream
from .slices import SliceChoice, SlicePlan, choice_for, current_position, plan_slices, take_slices
from .study_session import SessionStudy


@evented
@dataclass
class Session:
    """The study the next send attaches to, where it goes and how it is encoded.

    ``metadata`` comes from the Study dock (typed, or picked from a query, in which
    case its ``queried`` values make later edits show as coerced). ``destinations``
    are configured names or ``AET@host:port``; empty means the configured default.
    ``transfer_syntax`` is a key of core.transfer; empty lets
    ``jobs.inputs.SyntaxChoice`` choose (a JPEG as it is, else explicit VR little endian
    or the lossless syntax every destination prefers). ``study`` is the study the
    session's sends went into: a send takes its metadata with
    :func:`.study_session.next_send`, so consecutive sends share it. ``config`` is the
    user's config file as a dock last read or wrote it, ``config_problem`` why it could
    not be read (see :mod:`.destination_choice`). Connect to ``session.events``.
    """

    metadata: Metadata = field(default_factory=Metadata)
    destinations: tuple[str, ...] = ()
    transfer_syntax: str = ""
    study: SessionStudy = field(default_factory=SessionStudy)
    config: Config = field(default_factory=Config)
    config_problem: str = ""


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
    slices: SlicePlan | None = None,
) -> LayerImage:
    """Adapt an image layer's data, display and metadata to the core (the writer, the
    Send dock and the layer menu all go through here).

    The window is the contrast limits exactly: for float data, or a window narrower than
    one unit, with VOI LUT Function LINEAR_EXACT (LINEAR needs a width of 1 at least and
    maps the limits one unit off). The scale is the pixel spacing when its units are
    lengths, and a layer read from a file keeps what the file said
    (:mod:`.provenance`), its JPEG bitstream too when its pixels are the file's.
    ``slices`` takes the frames to send of an nD layer (:mod:`.slices`); without it, a
    3-D layer goes whole and a 4-D one is refused (SliceError), never flattened.
    """
    data = take_slices(data, slices or plan_slices(np.shape(data), rgb=rgb))
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
    its pixels; :meth:`image` converts them later, off the event loop.

    ``choice`` is the slices the user chose (:mod:`.slices`; None: a 3-D layer goes
    whole, a 4-D one is refused) and ``position`` the viewer's slice on each axis."""

    name: str
    data: object
    rgb: bool
    contrast_limits: tuple[float, float] | None
    metadata: dict
    scale: tuple[float, ...] | None = None
    units: tuple[str, ...] | None = None
    choice: SliceChoice | None = None
    position: tuple[int, ...] | None = None
    labels: bool = False  # a Labels layer: its values go as grey (rendering.label_values)

    @classmethod
    def of(cls, layer, viewer=None) -> LayerSnapshot:
        """The layer as it is, with the slices chosen for it and ``viewer``'s position;
        of a multiscale layer, its full resolution (level 0), whose scale is the layer's."""
        from napari.layers import Labels

        labels = isinstance(layer, Labels)
        rgb = bool(getattr(layer, "rgb", False))
        limits = None if rgb or labels else tuple(layer.contrast_limits)
        data = layer.data[0] if layer.multiscale else layer.data
        units = tuple(str(unit) for unit in layer.units)
        metadata = dict(layer.metadata or {})
        position = current_position(layer, viewer) if viewer is not None else None
        return cls(
            layer.name,
            data,
            rgb,
            limits,
            metadata,
            tuple(layer.scale),
            units,
            choice_for(layer),
            position,
            labels,
        )

    def slices(self) -> SlicePlan:
        """What the slice choice takes (SliceError when it does not fit the layer)."""
        shape = np.shape(self.data)
        return plan_slices(shape, rgb=self.rgb, choice=self.choice, position=self.position)

    @property
    def label(self) -> str:
        """The layer's name and, when not all of it goes, which slices."""
        try:
            description = self.slices().description
        except ValueError:
            return self.name
        return f"{self.name}, {description}" if description else self.name

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
            slices=self.slices(),
        )
