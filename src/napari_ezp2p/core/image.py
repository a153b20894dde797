"""The pixels of one source, normalised for DICOM, with what the source says about them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

CONVERSION_TYPES = {
    "DF": "digitized film",
    "SD": "scanned document",
    "DV": "digitized video",
    "WSD": "workstation",
    "DI": "digital interface",
}


@dataclass(frozen=True)
class DeferredPixels:
    """Pixels known by their shape and dtype before ``decode()`` decodes them.

    ``decode`` returns the ``(frames, rows, columns, samples)`` array, or raises
    ImageReadError when the source turns out to be damaged.
    """

    shape: tuple[int, int, int, int]
    dtype: np.dtype
    decode: Callable[[], np.ndarray] = field(repr=False)


@dataclass(frozen=True)
class SourceImage:
    """Pixels as ``(frames, rows, columns, samples)``, uint8 or uint16, samples 1 or 3.

    ``data`` is the pixel array, or a :class:`DeferredPixels` that is decoded the first
    time ``pixels`` is read (a JPEG that is encapsulated as it is never needs it); the
    shape, dtype and everything derived from them are known without decoding.
    ``bits_stored`` is what the data needs (8; 12 or 16 for uint16 grey).
    ``pixel_spacing`` is (row, column) in mm where the source knows its resolution.
    ``jpeg_bitstream`` holds the source's own JPEG bytes when they can be encapsulated
    as they are (baseline 8-bit, single frame, no orientation change needed).
    ``conversion_type`` is the source's suggestion (``CONVERSION_TYPES``).
    ``lossy_compression`` is (method, ratio) of lossy compression the source already went
    through, e.g. ``("ISO_10918_1", 9.8)`` for a JPEG file; ``source_format`` names the
    file format ("JPEG", "PNG", "TIFF", "BMP").
    ``burned_in_annotation`` is the source's Burned In Annotation: True (YES) unless the
    source is known to carry no text that identifies the patient. A photo or scan of a
    film (its ID flash), a document, a video capture, a screenshot or any file whose
    making we do not know may carry it, so only a source that knows says False.
    """

    data: np.ndarray | DeferredPixels
    bits_stored: int
    conversion_type: str = "WSD"
    pixel_spacing: tuple[float, float] | None = None
    jpeg_bitstream: bytes | None = None
    source_format: str = ""
    lossy_compression: tuple[str, float] | None = None
    burned_in_annotation: bool = True

    def __post_init__(self) -> None:
        _check_layout(self.shape, self.dtype)
        if not 1 <= self.bits_stored <= self.dtype.itemsize * 8:
            raise ValueError(f"bits_stored {self.bits_stored} does not fit {self.dtype}")
        if self.conversion_type not in CONVERSION_TYPES:
            raise ValueError(
                f"conversion type {self.conversion_type!r} is not one of "
                f"{', '.join(CONVERSION_TYPES)}"
            )

    @cached_property
    def pixels(self) -> np.ndarray:
        """The pixel array, decoded on first use when ``data`` is deferred."""
        if isinstance(self.data, np.ndarray):
            return self.data
        pixels = self.data.decode()
        if pixels.shape != self.shape or pixels.dtype != self.dtype:
            raise ValueError(
                f"decoded pixels are {pixels.shape} {pixels.dtype}, "
                f"expected {self.shape} {self.dtype}"
            )
        return pixels

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.data.dtype)

    @property
    def nbytes(self) -> int:
        """Size of the decoded pixels in bytes."""
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def frames(self) -> int:
        return self.shape[0]

    @property
    def rows(self) -> int:
        return self.shape[1]

    @property
    def columns(self) -> int:
        return self.shape[2]

    @property
    def samples(self) -> int:
        return self.shape[3]

    @property
    def is_colour(self) -> bool:
        return self.samples == 3

    @classmethod
    def from_array(cls, array: np.ndarray, *, rgb: bool | None = None, **fields) -> SourceImage:
        """Wrap a 2-D grey, (rows, cols, 3) colour, or stacked (frames, ...) array.

        ``rgb`` says whether a trailing axis of 3 is colour; by default it is when the
        array is 3-D or 4-D with a last axis of 3 and the data is 8-bit.
        """
        array = np.asarray(array)
        if rgb is None:
            rgb = array.ndim in (3, 4) and array.shape[-1] == 3 and array.dtype == np.uint8
        if rgb:
            if array.ndim == 3:
                array = array[np.newaxis]
        else:
            if array.ndim == 2:
                array = array[np.newaxis]
            array = array[..., np.newaxis]
        if array.ndim != 4:
            raise ValueError(f"cannot make an image of an array of shape {array.shape}")
        array = np.ascontiguousarray(array)
        fields.setdefault("bits_stored", bits_stored_for(array))
        return cls(array, **fields)


def _check_layout(shape: tuple[int, ...], dtype: np.dtype) -> None:
    if len(shape) != 4 or shape[-1] not in (1, 3):
        raise ValueError(f"pixels must be (frames, rows, columns, 1|3), got shape {shape}")
    if dtype not in (np.uint8, np.uint16):
        raise ValueError(f"pixels must be uint8 or uint16, got {dtype}")
    if shape[-1] == 3 and dtype != np.uint8:
        raise ValueError("colour pixels must be 8-bit")


def bits_stored_for(pixels: np.ndarray) -> int:
    """8 for 8-bit data; 12 for 16-bit data that fits 12 bits, else 16."""
    if pixels.dtype == np.uint8:
        return 8
    return 12 if int(pixels.max(initial=0)) < 4096 else 16


def image_from_array(
    data: np.ndarray, *, rgb: bool, **fields
) -> tuple[SourceImage, tuple[float, float] | None]:
    """Any numeric array (a napari layer's data) as a SourceImage and the rescale it needs.

    8- and 16-bit unsigned data is kept as it is. Other integer data that fits 16 bits
    after an offset (signed CT-like data) is stored shifted, with the rescale
    (slope 1, intercept = minimum) that gives the original values back. Float data is
    spread over 12 bits with the rescale that maps it back (to within 1/4095 of its
    range). Colour data becomes 8-bit (floats taken as 0..1); an alpha channel is
    composited over white. Leading axes beyond the image plane become frames.
    """
    array = np.asarray(data)
    if rgb:
        return SourceImage.from_array(_colour_to_uint8(array), rgb=True, **fields), None
    array = array.reshape(-1, *array.shape[-2:]) if array.ndim > 2 else array
    if array.dtype == np.bool_:
        return SourceImage.from_array(array.astype(np.uint8) * 255, rgb=False, **fields), None
    if array.dtype in (np.uint8, np.uint16):
        return SourceImage.from_array(array, rgb=False, **fields), None
    if array.size == 0 or not np.isfinite(array).all():
        raise ValueError("image data is empty or holds NaN/infinite values")
    low, high = float(array.min()), float(array.max())
    if np.issubdtype(array.dtype, np.integer) and high - low <= 65535:
        shifted = (array.astype(np.int64) - int(low)).astype(np.uint16)
        return SourceImage.from_array(shifted, rgb=False, **fields), (1.0, low)
    slope = (high - low) / 4095 or 1.0
    scaled = np.round((array.astype(np.float64) - low) / slope).astype(np.uint16)
    return SourceImage.from_array(scaled, rgb=False, **fields), (slope, low)


def _colour_to_uint8(array: np.ndarray) -> np.ndarray:
    if array.shape[-1] not in (3, 4):
        raise ValueError(f"colour data needs 3 or 4 channels, got shape {array.shape}")
    if np.issubdtype(array.dtype, np.floating):
        array = np.clip(array, 0, 1) * 255
    elif array.dtype == np.uint16:
        array = array >> 8
    array = np.clip(np.round(array), 0, 255).astype(np.uint8)
    if array.shape[-1] == 4:
        alpha = array[..., 3:].astype(np.uint16)
        array = ((array[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
    return array.reshape(-1, *array.shape[-3:]) if array.ndim > 3 else array
