"""Sample data for napari: a synthetic 16-bit film scan and a colour photograph.

The files ship in ``napari_ezp2p/samples/`` (made by ``scripts/make-samples``) and are
read with the same pure reader the rest of the plugin uses.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import numpy as np

from napari_ezp2p.core.image import SourceImage

FILM_SCAN = "film-scan.tif"
COLOUR_PHOTO = "colour-photo.jpg"

LayerData = tuple[np.ndarray, dict[str, Any], str]


def film_scan() -> list[LayerData]:
    """A synthetic chest film scan: 16-bit grey, 12 bits of data, 150 dpi.

    Returns
    -------
    list of LayerData
        One grey image layer, contrast limits set from the data rather than the
        full 16-bit range.
    """
    image, attributes = _read_sample(FILM_SCAN)
    pixels = image.pixels[0, :, :, 0]
    attributes.update(
        name="film scan",
        colormap="gray",
        contrast_limits=[int(pixels.min()), int(pixels.max())],
    )
    return [(pixels, attributes, "image")]


def colour_photo() -> list[LayerData]:
    """A colour photograph (baseline JPEG): Eileen Collins, NASA, public domain.

    Returns
    -------
    list of LayerData
        One RGB image layer.
    """
    image, attributes = _read_sample(COLOUR_PHOTO)
    attributes.update(name="colour photo", rgb=True)
    return [(image.pixels[0], attributes, "image")]


def _read_sample(name: str) -> tuple[SourceImage, dict[str, Any]]:
    """The sample's image, and the layer attributes our reader gives an image file."""
    # Imported here: keeps plugin discovery light
    from napari_ezp2p._napari.provenance import source_attributes
    from napari_ezp2p.core.imageio import read_image

    resource = files("napari_ezp2p") / "samples" / name
    with as_file(resource) as path:
        image = read_image(path)
    attributes = source_attributes(image)
    attributes["metadata"]["bits_stored"] = image.bits_stored
    if isinstance(resource, Path) and resource.is_file():  # installed as files, not zipped
        attributes["metadata"]["source"] = str(resource)
    return image, attributes
