"""What a layer knows of its source, carried from our reader to the object sent.

Our reader puts in ``layer.metadata["source_image"]`` what the file said about its pixels
(:data:`SOURCE_FIELDS`: the conversion type it suggests, its lossy history, its format),
and gives a film scan its pixel spacing as ``scale`` in millimetres (``units`` "mm"), so
that a layer sent from napari is the object ``ezp2p convert`` makes of the same file.

The layer's scale is a pixel spacing only when its units for the image plane are lengths
(our reader sets millimetres; a user or another plugin may set any length): napari's
default, 1 "pixel", is no spacing. A spacing is written as Nominal Scanned Pixel Spacing
for film (DF) and documents (SD); the Secondary Capture IODs have no attribute for the
spacing of a workstation's or a video's image (their Pixel Spacing, which dciodvfy
accepts, is a distance in the patient, which a layer's scale does not say it is), so
there it is not written, and the log says so.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..core.image import SourceImage

#: SourceImage fields a layer read from an image file carries (``metadata["source_image"]``).
SOURCE_FIELDS = ("conversion_type", "lossy_compression", "source_format")
#: Conversion types whose objects have an attribute for the pixel spacing.
SPACED_CONVERSIONS = ("DF", "SD")

log = logging.getLogger(__name__)


def source_attributes(image: SourceImage) -> dict[str, Any]:
    """Layer attributes (the ``source_image`` metadata; ``scale`` and ``units`` too for a
    film or document scan with a resolution) for ``image``.

    The scale covers the image plane, and the frame axis (1 pixel) of a multi-frame
    layer. A photograph's or a screenshot's dots per inch give no scale: the object
    would not carry it, and the layer would show at another size than its neighbours.
    """
    fields = {name: getattr(image, name) for name in SOURCE_FIELDS}
    attributes: dict[str, Any] = {"metadata": {"source_image": fields}}
    if image.pixel_spacing is not None and image.conversion_type in SPACED_CONVERSIONS:
        frames = ((1.0,), ("pixel",)) if image.frames > 1 else ((), ())
        attributes["scale"] = (*frames[0], *image.pixel_spacing)
        attributes["units"] = (*frames[1], "mm", "mm")
    return attributes


def spacing_in_mm(scale, units) -> tuple[float, float] | None:
    """The (row, column) spacing in mm a layer's scale gives, or None when its units for
    the image plane are not lengths (napari's default "pixel")."""
    if scale is None or units is None or len(scale) < 2 or len(units) < 2:
        return None
    import pint

    registry = pint.get_application_registry()
    spacing = []
    for value, unit in zip(scale[-2:], units[-2:], strict=True):
        try:
            quantity = float(value) * registry.Unit(str(unit))
        except (pint.errors.PintError, ValueError):  # not a unit pint knows
            return None
        if not quantity.check("[length]"):
            return None
        spacing.append(float(quantity.to("mm").magnitude))
    return spacing[0], spacing[1]


def source_fields(metadata: dict) -> dict[str, Any]:
    """The SourceImage fields a layer carries, as our reader stored them."""
    carried = metadata.get("source_image") or {}
    fields = {name: carried[name] for name in SOURCE_FIELDS if carried.get(name)}
    if "lossy_compression" in fields:
        method, ratio = fields["lossy_compression"]
        fields["lossy_compression"] = (str(method), float(ratio))
    return fields


def with_source_bitstream(image: SourceImage, metadata: dict) -> SourceImage:
    """``image`` with its source file's own JPEG bitstream, when the file is a JPEG that
    goes as it is and its decoded pixels are the layer's, compared value for value."""
    source = metadata.get("source")
    lossy = image.lossy_compression
    if not source or not lossy or lossy[0] != "ISO_10918_1" or image.dtype != np.uint8:
        return image
    from ..core.errors import ImageReadError
    from ..core.imageio import read_image

    try:
        original = read_image(Path(source))
        same = (
            original.jpeg_bitstream is not None
            and original.shape == image.shape
            and np.array_equal(original.pixels, image.pixels)
        )
    except (ImageReadError, OSError, ValueError):
        return image
    return dataclasses.replace(image, jpeg_bitstream=original.jpeg_bitstream) if same else image


def note_unwritten_spacing(layer, image: SourceImage, overrides: dict, conversion: str) -> None:
    """Log that the layer's scale is not written: its units are not lengths, or its
    conversion type has no attribute for it; ``layer`` has ``name``, ``scale`` and
    ``units``, ``conversion`` is the study's (empty: the layer's own)."""
    name = layer.name or "the layer"
    if overrides.get("pixel_spacing"):
        return
    if image.pixel_spacing is None:
        plane = tuple(layer.scale or (1, 1))[-2:]
        if plane != (1, 1):
            units = " x ".join(str(unit) for unit in (layer.units or ("?", "?"))[-2:])
            log.warning(
                "%s: its scale (%g x %g, in %s) is not written: only a scale in lengths "
                "(mm, µm, ...) is a pixel spacing",
                name,
                *plane,
                units,
            )
        return
    conversion = overrides.get("conversion_type") or conversion or image.conversion_type
    if conversion not in SPACED_CONVERSIONS:
        log.warning(
            "%s: its scale (%g x %g mm per pixel) is not written: a Secondary Capture of "
            "conversion type %s has no attribute for it (only film, DF, and documents, SD, "
            "have Nominal Scanned Pixel Spacing)",
            name,
            *image.pixel_spacing,
            conversion,
        )
