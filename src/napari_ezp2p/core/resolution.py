"""Pixel spacing from the physical resolution an image file records, and only a real one.

A resolution tag a file does not have is no resolution: tifffile answers 1 pixel per inch
for a TIFF without XResolution / YResolution (Pillow writes none by default), which would
make 25.4 mm pixels of any image.
"""

from __future__ import annotations

import tifffile
from PIL import Image

_X_RESOLUTION, _Y_RESOLUTION = 282, 283
_TIFF_MM_PER_UNIT = {tifffile.RESUNIT.INCH: 25.4, tifffile.RESUNIT.CENTIMETER: 10.0}


def pillow_spacing(image: Image.Image, image_format: str) -> tuple[float, float] | None:
    """(row, column) spacing in mm of an opened JPEG (JFIF density) or PNG (pHYs)."""
    if image_format == "JPEG":
        mm_per_unit = {1: 25.4, 2: 10.0}.get(image.info.get("jfif_unit"))
        density = image.info.get("jfif_density")
    elif image_format == "PNG":  # Pillow sets dpi only for a pHYs chunk in metres
        mm_per_unit, density = 25.4, image.info.get("dpi")
    else:
        return None
    return _spacing(density, mm_per_unit) if mm_per_unit and density else None


def tiff_spacing(page: tifffile.TiffPage) -> tuple[float, float] | None:
    """(row, column) spacing in mm of a TIFF page with both resolution tags and a unit."""
    if _X_RESOLUTION not in page.tags or _Y_RESOLUTION not in page.tags:
        return None
    unit = _TIFF_MM_PER_UNIT.get(page.resolutionunit)
    return _spacing(page.resolution, unit) if unit else None


def _spacing(resolution: tuple[float, float], mm_per_unit: float) -> tuple[float, float] | None:
    """(row, column) spacing in mm from an (x, y) resolution in pixels per unit."""
    x_res, y_res = (float(value) for value in resolution)
    if x_res > 0 and y_res > 0:
        return (mm_per_unit / y_res, mm_per_unit / x_res)
    return None
