"""npe2 writer: an image layer to a DICOM Secondary Capture file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.convert import convert_images, write_atomically
from ..core.metadata import Metadata
from ..core.transfer import transfer_syntax
from .session import layer_image
from .slices import SliceError


def write_dicom(path: str, data: Any, attributes: dict) -> list[str]:
    """Write one image layer as a Secondary Capture object (explicit VR little endian).

    Grey layers keep the window the viewer shows (their contrast limits, in the
    layer's own values); a multiscale layer is written at its full resolution.
    Demographics come from ``layer.metadata["ezp2p"]`` when a study has been attached
    to the layer, as a dict of Metadata fields; a layer read from a file keeps what the
    file said (``_napari.provenance``). A 4-D layer is refused: saving cannot choose
    its slices, and flattening them would lose which is which.
    """
    try:
        layer = layer_image(
            data[0] if attributes.get("multiscale") else data,
            rgb=bool(attributes.get("rgb", False)),
            contrast_limits=attributes.get("contrast_limits"),
            name=attributes.get("name", ""),
            metadata=attributes.get("metadata"),
            scale=attributes.get("scale"),
            units=attributes.get("units"),
        )
    except SliceError as error:
        raise SliceError(
            f"{error}. Saving cannot choose: send it from the Send dock's Slices row"
        ) from None
    fields = dict(attributes.get("metadata", {}).get("ezp2p", {}))
    fields.setdefault("series_description", layer.name)
    meta = Metadata(**{**fields, **layer.overrides})
    (ds,) = convert_images([layer.image], meta, transfer_syntax("explicit-le"))
    target = Path(path)
    if target.suffix.lower() != ".dcm":
        target = target.with_suffix(".dcm")
    return [str(write_atomically(ds, target))]
