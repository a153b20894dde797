"""Read BMP, JPEG, PNG and TIFF files into a :class:`SourceImage`.

TIFF goes through tifffile (16-bit, multi-page, compression); the rest through Pillow.
Every failure on bad input is an :class:`ImageReadError` naming the file and the cause.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import struct
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import tifffile
from PIL import ExifTags, Image, ImageOps

from .errors import ImageReadError
from .image import DeferredPixels, SourceImage, bits_stored_for
from .pixels import JpegHeader, jpeg_header
from .resolution import pillow_spacing, tiff_spacing
from .tiffpages import Deadline, TiffPagesError, image_pages

SUFFIXES = frozenset({".bmp", ".jpg", ".jpeg", ".png", ".tif", ".tiff"})
MAX_PIXELS = 2**26
"""Largest frame read (rows x columns), checked before any pixel data is decoded.

Below Pillow's own ``MAX_IMAGE_PIXELS`` default, so one limit holds for every format.
"""
MAX_TOTAL_PIXELS = 2**30
"""Largest multi-page TIFF read (frames x rows x columns)."""

_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
    (b"BM", "BMP"),
)
_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    RuntimeError,
)
_ORIENTATIONS = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
    8: lambda a: np.rot90(a),
}
_PILLOW_ALPHA = {"LA": "LA", "La": "LA", "PA": "RGBA", "RGBA": "RGBA", "RGBa": "RGBA"}
_PILLOW_16BIT = {"I;16", "I;16L", "I;16B", "I;16N"}
_PILLOW_COLOUR = {"P", "RGB", "RGBX", "CMYK", "YCbCr", "HSV"}
_JPEG_PASSTHROUGH_SOF = (0xC0, 0xC1)  # baseline and extended sequential Huffman
_JPEG_EOI = b"\xff\xd9"


class _Reject(Exception):
    """A cause in plain words; :func:`read_image` adds the file name."""


def is_supported_image(path: str | os.PathLike) -> bool:
    """Whether ``path`` has a supported suffix and starts like a supported format.

    Reads only the first bytes; never raises.
    """
    try:
        path = Path(path)
        return path.suffix.lower() in SUFFIXES and _sniff(path) is not None
    except (OSError, TypeError, ValueError):
        return False


def read_image(path: str | os.PathLike) -> SourceImage:
    """Read an image file (identified by its content) as a :class:`SourceImage`.

    - EXIF / TIFF orientation is applied.
    - Palette images become RGB, or grey when every colour in use is grey; 1-bit becomes
      8-bit grey 0/255; CMYK, YCbCr and friends become RGB.
    - Transparency is composited over WHITE, so figures and screenshots with transparent
      backgrounds read as they look on paper.
    - 16-bit grey stays 16-bit; 16-bit colour is reduced to 8 bits by taking the high byte;
      other grey (32-bit integer, float) is kept as 16-bit only if every value fits exactly.
    - Multi-page TIFF becomes one multi-frame image; all pages must match.
    - Pixel spacing comes from a physical resolution the file records (TIFF inch/cm, PNG
      pHYs metres, JPEG JFIF dpi/dpcm); BMP resolution is a writer's default and is ignored.
    - The suggested Conversion Type is DF (film) for 16-bit grey with a pixel spacing,
      WSD for everything else.
    - A baseline 8-bit JPEG that needs no rotation keeps its bytes for encapsulation.
      When its markers are whole and it ends with EOI, only its header is read: the
      pixels are decoded the first time they are used (never, when the bytes are
      encapsulated as they are), and a damaged scan raises ImageReadError then.
    """
    path = Path(path)
    with _read_errors(path):
        image_format = _identify(path)
        if image_format == "TIFF":
            return _read_tiff(path)
        return _read_pillow(path, image_format)


@contextlib.contextmanager
def _read_errors(path: Path) -> Iterator[None]:
    """Every failure on bad input in the block as an ImageReadError naming ``path``."""
    try:
        yield
    except (_Reject, TiffPagesError) as exc:
        raise ImageReadError(f"Cannot read {path}: {exc}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(f"Cannot read {path}: the image is too large ({exc})") from None
    except MemoryError:
        raise ImageReadError(f"Cannot read {path}: not enough memory to decode it") from None
    except _DECODE_ERRORS as exc:
        raise ImageReadError(
            f"Cannot read {path}: the file is truncated or damaged ({exc})"
        ) from exc


def _sniff(path: Path) -> str | None:
    with path.open("rb") as file:
        head = file.read(8)
    return next((name for magic, name in _MAGIC if head.startswith(magic)), None)


def _identify(path: Path) -> str:
    try:
        if path.stat().st_size == 0:
            raise _Reject("the file is empty")
        image_format = _sniff(path)
    except FileNotFoundError:
        raise _Reject("the file does not exist") from None
    except IsADirectoryError:
        raise _Reject("it is a folder, not a file") from None
    except OSError as exc:
        raise _Reject(f"the file cannot be opened ({exc.strerror or exc})") from None
    if image_format is None:
        raise _Reject("the content is not a BMP, JPEG, PNG or TIFF image")
    return image_format


def _check_size(rows: int, columns: int, frames: int = 1) -> None:
    if rows * columns > MAX_PIXELS:
        raise _Reject(
            f"the image is too large: {columns} x {rows} pixels, "
            f"the limit is {MAX_PIXELS} pixels per frame"
        )
    if frames * rows * columns > MAX_TOTAL_PIXELS:
        raise _Reject(
            f"the image is too large: {frames} frames of {columns} x {rows} pixels, "
            f"the limit is {MAX_TOTAL_PIXELS} pixels in all"
        )


def _check_pillow_limit(opened: Image.Image) -> None:
    """Pillow's own limit, as the application set it (``Image.MAX_IMAGE_PIXELS``): Pillow
    only warns between it and twice it; we refuse."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and opened.width * opened.height > limit:
        raise _Reject(
            f"the image is too large: {opened.width} x {opened.height} pixels, over "
            f"Pillow's limit of {limit} pixels"
        )


def _image(pixels: np.ndarray, colour: bool, **fields) -> SourceImage:
    """16-bit grey with a real scan resolution suggests film (DF); the rest is WSD."""
    film = pixels.dtype == np.uint16 and not colour and fields.get("pixel_spacing") is not None
    return SourceImage.from_array(
        pixels, rgb=colour, bits_stored=bits_stored_for(pixels),
        conversion_type="DF" if film else "WSD", **fields,
    )  # fmt: skip


def _lossy(nbytes: int, file_size: int) -> tuple[str, float]:
    """JPEG compression the source went through: decoded size / file size."""
    return ("ISO_10918_1", round(nbytes / file_size, 2))


# --- Pillow: BMP, JPEG, PNG -------------------------------------------------------------


def _read_pillow(path: Path, image_format: str) -> SourceImage:
    data = path.read_bytes()
    with Image.open(_WholeFile(data), formats=[image_format]) as opened:
        _check_size(opened.height, opened.width)
        _check_pillow_limit(opened)
        orientation = opened.getexif().get(ExifTags.Base.Orientation, 1)
        single = getattr(opened, "n_frames", 1) == 1
        header = jpeg_header(data) if image_format == "JPEG" else None
        passes_through = orientation == 1 and single and _jpeg_passes_through(header)
        if passes_through and _jpeg_intact(data, header, opened):
            pixels = None
        else:
            opened.load()
            if orientation in _ORIENTATIONS:
                pixels = _pillow_pixels(ImageOps.exif_transpose(opened))
            else:
                pixels = _pillow_pixels(opened)
        spacing = pillow_spacing(opened, image_format)
    if spacing and orientation in (5, 6, 7, 8):
        spacing = spacing[::-1]
    fields = {"pixel_spacing": spacing, "source_format": image_format}
    if pixels is None:  # a JPEG to decode only if it is not encapsulated as it is
        shape = (1, header.rows, header.columns, len(header.components))
        deferred = DeferredPixels(shape, np.dtype(np.uint8), partial(_decode_jpeg, path, data))
        lossy = _lossy(math.prod(shape), len(data))
        return SourceImage(deferred, 8, jpeg_bitstream=data, lossy_compression=lossy, **fields)
    if image_format == "JPEG":
        fields["lossy_compression"] = _lossy(pixels.nbytes, len(data))
        if passes_through:
            fields["jpeg_bitstream"] = data
    return _image(pixels, pixels.ndim == 3, **fields)


class _WholeFile(io.BytesIO):
    """A file's bytes for Pillow, where a read past their end is an error.

    Pillow stops at the end of a truncated file and keeps what it decoded when
    ``ImageFile.LOAD_TRUNCATED_IMAGES`` is set: the application's setting, which we
    leave alone. A whole image is decoded before its data ends, so reading on from
    there means the file is cut short, whatever that setting says.
    """

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        if not chunk and size != 0:
            raise _Reject("the file is truncated: it ends before the image does")
        return chunk


def _jpeg_intact(data: bytes, header: JpegHeader, opened: Image.Image) -> bool:
    """Whether a JPEG looks whole without decoding it: its decode can then wait.

    Its first scan header names components of its frame, it ends with EOI (a cut file
    does not) and Pillow agrees on its size and kind. libjpeg itself accepts a scan cut
    short before an EOI, or damaged entropy-coded data, so decoding would find no more.
    """
    return (
        bool(header.scan)
        and set(header.scan) <= {component[0] for component in header.components}
        and data.endswith(_JPEG_EOI)
        and opened.size == (header.columns, header.rows)
        and opened.mode == ("L" if len(header.components) == 1 else "RGB")
    )


def _decode_jpeg(path: Path, data: bytes) -> np.ndarray:
    """The pixels of a JPEG read by :func:`_read_pillow` without them, (1, rows, cols, 1|3)."""
    with _read_errors(path), Image.open(_WholeFile(data), formats=["JPEG"]) as opened:
        opened.load()
        pixels = _pillow_pixels(opened)
    return pixels.reshape(1, *pixels.shape[:2], -1)


def _pillow_pixels(image: Image.Image) -> np.ndarray:
    """(rows, columns) grey or (rows, columns, 3) RGB, uint8 or 16-bit grey."""
    mode = image.mode
    if mode in _PILLOW_16BIT:
        return np.asarray(image).astype(np.uint16, copy=False)
    if mode in ("I", "F"):
        return _fit_uint16(np.asarray(image))
    if mode in _PILLOW_ALPHA or (mode in ("L", "RGB", "P") and "transparency" in image.info):
        array = np.asarray(image.convert(_PILLOW_ALPHA.get(mode, "LA" if mode == "L" else "RGBA")))
        pixels = _over_white(array[..., :-1], array[..., -1:])
    elif mode in ("1", "L"):
        pixels = np.asarray(image if mode == "L" else image.convert("L"))
    elif mode in _PILLOW_COLOUR:
        pixels = np.asarray(image if mode == "RGB" else image.convert("RGB"))
    else:
        raise _Reject(f"its pixel mode {mode!r} is not supported")
    if mode in ("P", "PA"):
        pixels = _grey_if_grey(pixels)
    return pixels[..., 0] if pixels.ndim == 3 and pixels.shape[-1] == 1 else pixels


def _jpeg_passes_through(header: JpegHeader | None) -> bool:
    """Whether the JPEG is 8-bit sequential Huffman with 1 component, or 3 in YCbCr."""
    return (
        header is not None
        and header.sof in _JPEG_PASSTHROUGH_SOF
        and header.precision == 8
        and len(header.components) in (1, 3)
        and header.photometric != "RGB"
    )


# --- tifffile: TIFF ---------------------------------------------------------------------


def _read_tiff(path: Path) -> SourceImage:
    file_size = path.stat().st_size
    deadline = Deadline()
    with _tifffile_errors() as errors, tifffile.TiffFile(path) as tiff:
        pages = image_pages(tiff, deadline)
        if errors:  # tifffile logs a broken page list and carries on with fewer pages
            raise _Reject(f"the file is truncated or damaged: {errors[0]}")
        if not pages:
            raise _Reject("the TIFF file has no image pages")
        _check_tiff_pages(pages, file_size)
        first = pages[0]
        frames = [_tiff_pixels(page, deadline) for page in pages]
        orientation = first.tags.valueof(274, 1)
        spacing = tiff_spacing(first)
        compressions = {page.compression for page in pages}
    pixels = np.stack([_ORIENTATIONS.get(orientation, np.asarray)(f) for f in frames])
    if spacing and orientation in (5, 6, 7, 8):
        spacing = spacing[::-1]
    lossy = None
    if compressions & {tifffile.COMPRESSION.OJPEG, tifffile.COMPRESSION.JPEG}:
        lossy = _lossy(pixels.nbytes, file_size)
    return _image(
        pixels, pixels.ndim == 4, pixel_spacing=spacing, source_format="TIFF",
        lossy_compression=lossy,
    )  # fmt: skip


class _ErrorList(logging.Handler):
    """Keeps the messages of the errors logged to it."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _tifffile_errors():
    """The errors tifffile logs, instead of raising, while the block runs."""
    handler, logger = _ErrorList(), logging.getLogger("tifffile")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def _check_tiff_pages(pages: list, file_size: int) -> None:
    """Same size and kind on every page, within the limits, pixel data inside the file."""
    first = pages[0]
    _check_size(first.imagelength, first.imagewidth, len(pages))
    kind = _tiff_kind(first)
    for number, page in enumerate(pages, start=1):
        if _tiff_kind(page) != kind:
            raise _Reject(
                f"page {number} is {_describe(page)} but page 1 is {_describe(first)}; "
                "all pages must have the same size and kind"
            )
        ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts, strict=False)]
        if max(ends, default=0) > file_size:
            raise _Reject(f"the file is truncated: page {number} ends past the end of the file")


def _tiff_kind(page) -> tuple:
    return (
        page.shape, page.dtype, page.photometric, page.extrasamples,
        page.bitspersample, page.tags.valueof(274, 1),
    )  # fmt: skip


def _describe(page) -> str:
    name = getattr(page.photometric, "name", page.photometric)
    return f"{'x'.join(map(str, page.shape))} {page.dtype} {name}"


def _tiff_pixels(page, deadline: Deadline) -> np.ndarray:
    """One page as (rows, columns) grey or (rows, columns, 3) RGB, if time is left."""
    deadline.check()
    array = page.asarray()
    if page.axes == "SYX":
        array = np.moveaxis(array, 0, -1)
    elif page.axes not in ("YX", "YXS"):
        raise _Reject(f"its TIFF page layout {page.axes!r} is not supported")
    if array.ndim == 2:
        array = array[..., np.newaxis]
    extras = len(page.extrasamples)
    colour, extra = array[..., : array.shape[-1] - extras], array[..., array.shape[-1] - extras :]
    pixels = _tiff_colour(colour, page)
    alpha_kinds = (tifffile.EXTRASAMPLE.ASSOCALPHA, tifffile.EXTRASAMPLE.UNASSALPHA)
    if extras and page.extrasamples[0] in alpha_kinds:
        alpha = extra[..., :1]
        if alpha.dtype == np.uint16 and pixels.dtype == np.uint8:
            alpha = (alpha >> 8).astype(np.uint8)
        if alpha.dtype != pixels.dtype:
            raise _Reject(f"its {alpha.dtype} transparency is not supported")
        associated = page.extrasamples[0] == tifffile.EXTRASAMPLE.ASSOCALPHA
        pixels = _over_white(pixels, alpha, associated=associated)
    return pixels[..., 0] if pixels.shape[-1] == 1 else pixels


def _tiff_colour(array: np.ndarray, page) -> np.ndarray:
    """The colour samples of one page as (rows, columns, 1|3) uint8, or uint16 grey."""
    photometric = tifffile.PHOTOMETRIC
    kind, bits = page.photometric, page.bitspersample
    if kind in (photometric.MINISBLACK, photometric.MINISWHITE) and array.shape[-1] == 1:
        array = array.astype(np.uint8) if array.dtype == bool else array
        if kind == photometric.MINISWHITE:
            if array.dtype.kind != "u":
                raise _Reject(f"its {array.dtype} min-is-white pixels are not supported")
            array = (2**bits - 1) - array
        if bits < 8:
            return array.astype(np.uint8) * (255 // (2**bits - 1))
        return array if array.dtype in (np.uint8, np.uint16) else _fit_uint16(array)
    if kind == photometric.PALETTE and array.shape[-1] == 1:
        return _grey_if_grey((page.colormap >> 8).astype(np.uint8).T[array[..., 0]])
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    if array.dtype != np.uint8:
        raise _Reject(f"its {array.dtype} colour pixels are not supported")
    if kind == photometric.RGB and array.shape[-1] == 3:
        return array
    if kind == photometric.YCBCR and array.shape[-1] == 3:
        if page.compression in (tifffile.COMPRESSION.JPEG, tifffile.COMPRESSION.OJPEG):
            return array  # the JPEG decoder already returned RGB
        return _pillow_convert(array, "YCbCr")
    if kind == photometric.SEPARATED and array.shape[-1] == 4:
        return _pillow_convert(array, "CMYK")
    name = getattr(kind, "name", kind)
    raise _Reject(f"its TIFF colour kind {name} with {array.shape[-1]} samples is not supported")


def _pillow_convert(array: np.ndarray, mode: str) -> np.ndarray:
    rows, columns = array.shape[:2]
    image = Image.frombytes(mode, (columns, rows), np.ascontiguousarray(array).tobytes())
    return np.asarray(image.convert("RGB"))


# --- pixel helpers ----------------------------------------------------------------------


def _over_white(colour: np.ndarray, alpha: np.ndarray, associated: bool = False) -> np.ndarray:
    """Composite colour over white with alpha (both the same unsigned dtype)."""
    dtype = colour.dtype
    top = int(np.iinfo(dtype).max)
    work = np.uint32 if dtype == np.uint8 else np.uint64
    colour, alpha = colour.astype(work), alpha.astype(work)
    if associated:  # colour is already multiplied by alpha
        result = np.minimum(colour + (top - alpha), top)
    else:
        result = (colour * alpha + top * (top - alpha) + top // 2) // top
    return result.astype(dtype)


def _grey_if_grey(rgb: np.ndarray) -> np.ndarray:
    """(rows, columns, 1) when all three samples are equal everywhere, else unchanged."""
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        return rgb[..., :1]
    return rgb


def _fit_uint16(array: np.ndarray) -> np.ndarray:
    """Grey of another type as uint16 when every value fits exactly, else a _Reject."""
    if array.dtype.kind in "uif" and array.size:
        low, high = array.min(), array.max()
        if low >= 0 and high <= 65535 and np.array_equal(array.astype(np.uint16), array):
            return array.astype(np.uint16)
        raise _Reject(
            f"its {array.dtype} pixel values ({low} to {high}) do not fit "
            "16-bit unsigned integers without loss"
        )
    raise _Reject(f"its {array.dtype} pixels are not supported")
