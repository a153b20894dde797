"""npe2 reader: images (BMP, JPEG, PNG, TIFF), DICOM, video and PDF files as napari layers.

:func:`get_reader` only sniffs the first bytes of each file (a video with an unknown
signature may have its container headers opened, nothing decoded) and never raises; the
reader function it returns does the reading. Image files go through the same pure
reader as the rest of the plugin (``core.imageio.read_image``); DICOM files through
pydicom, with their demographics kept in the layer metadata so that saving the layer
with our writer (or sending it) keeps the patient, study and series.

An image file's layer carries what the file said (``metadata["source_image"]``: the
conversion type it suggests, its lossy history, its format), and a film scan its pixel
spacing as the layer's scale in mm (:mod:`.provenance`), so that sending it makes the
object ``ezp2p convert`` makes of the file.

Videos become an RGB stack with a time axis (``capture.clip.read_video``, within
:data:`MAX_VIDEO_BYTES`), PDFs an RGB stack of their pages rendered at :data:`PDF_DPI`.
Their ``metadata["ezp2p"]`` holds the Metadata fields the writer and the Send dock use:
``conversion_type`` ("DV" with ``frame_time_ms`` for videos, "SD" with
``pixel_spacing`` for PDFs), so that a saved or sent layer is a multi-frame SC with
Frame Time, or a scanned document with its Nominal Scanned Pixel Spacing.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ImageReadError
from ..core.files import is_dicom_file
from ..core.imageio import is_supported_image
from .provenance import source_attributes

LayerData = tuple[np.ndarray, dict[str, Any], str]
ReaderFunction = Callable[[str | Sequence[str]], list[LayerData]]

#: Keywords copied to ``metadata["dicom"]`` as text, when present.
DICOM_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyInstanceUID",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "Modality",
    "BodyPartExamined",
    "InstitutionName",
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceNumber",
    "SpecificCharacterSet",
    "PhotometricInterpretation",
)
#: Percentiles giving the contrast limits of 16-bit grey images.
PERCENTILES = (0.5, 99.5)
#: Resolution PDF pages are rendered at (dpi).
PDF_DPI = 100
#: The largest video (decoded RGB bytes) the reader opens; ``None`` is the capture
#: package's own limit (``capture.clip.MAX_CLIP_BYTES``).
MAX_VIDEO_BYTES: int | None = None


def get_reader(path: str | os.PathLike | Sequence[str | os.PathLike]) -> ReaderFunction | None:
    """The reader function when every path is a file we read, else None.

    Reads only the first bytes of each file (the image signature, the ``DICM`` marker
    after the DICOM preamble, ``%PDF-``, a video container's signature; a file with a
    video suffix but no known signature has its container headers probed, nothing is
    decoded); never raises.
    """
    try:
        paths = [path] if isinstance(path, str | os.PathLike) else list(path)
        if not paths or not all(_supported(Path(p)) for p in paths):
            return None
    except Exception:  # noqa: BLE001 - a reader probe must never raise
        return None
    _plugin_used()
    return read_layers


def read_layers(path: str | os.PathLike | Sequence[str | os.PathLike]) -> list[LayerData]:
    """One layer per file: grey images as image layers, colour ones, videos and PDFs as RGB.

    Raises ImageReadError (a ValueError) naming the file and the cause when a file
    cannot be read, a video is larger than the limit, or a PDF cannot be rendered.
    """
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    layers = []
    for item in map(Path, paths):
        if is_dicom_file(item):
            layers.append(_read_dicom(item))
        elif _is_pdf(item):
            layers.append(_read_pdf(item))
        elif not is_supported_image(item) and _is_video(item):
            layers.append(_read_video(item))
        else:  # an image, or an ImageReadError saying why it is not one
            layers.append(_read_image(item))
    return layers


# --------------------------------------------------------------------------- probing


def _supported(path: Path) -> bool:
    return is_dicom_file(path) or is_supported_image(path) or _is_pdf(path) or _is_video(path)


def _is_pdf(path: Path) -> bool:
    from ..capture.pdf import is_pdf_file

    return is_pdf_file(path)


def _is_video(path: Path) -> bool:
    from ..capture.video import is_video_file

    return is_video_file(path)


def _plugin_used() -> None:
    """Make sure the layer-list menu item is there: the reader is a use of the plugin.

    Only from napari's main thread, with napari running; never raises.
    """
    import sys

    if "napari" not in sys.modules or threading.current_thread() is not threading.main_thread():
        return
    try:
        from .menus import ensure_context_menu

        ensure_context_menu()
    except Exception:  # noqa: BLE001 - the menu item is a convenience, reading is not
        import logging

        logging.getLogger(__name__).debug("layer menu item not added", exc_info=True)


# --------------------------------------------------------------------------- images


def _read_image(path: Path) -> LayerData:
    from ..core.imageio import read_image

    image = read_image(path)  # ImageReadError names the file and the cause
    pixels = image.pixels  # (frames, rows, columns, samples)
    colour = image.is_colour
    data = pixels if colour else pixels[..., 0]
    if image.frames == 1:
        data = data[0]
    attributes: dict[str, Any] = {"name": path.stem, "rgb": colour, **source_attributes(image)}
    metadata = attributes["metadata"]
    metadata.update({"source": str(path), "bits_stored": image.bits_stored})
    if not colour:
        attributes["colormap"] = "gray"
        if data.dtype == np.uint16:
            attributes["contrast_limits"] = limits_from_data(data)
    return data, attributes, "image"


def limits_from_data(data: np.ndarray) -> list[float]:
    """The 0.5 and 99.5 percentiles (min/max when they coincide), never an empty range."""
    low, high = (float(v) for v in np.percentile(data, PERCENTILES))
    if high <= low:
        low, high = float(data.min()), float(data.max())
    if high <= low:
        high = low + 1
    return [low, high]


# --------------------------------------------------------------------------- video, PDF


def _read_video(path: Path) -> LayerData:
    """The whole video as ``(frames, rows, columns, 3)`` RGB, with its frame time."""
    from ..capture.clip import read_video
    from ..capture.video import CaptureError

    try:
        clip = read_video(path, max_bytes=MAX_VIDEO_BYTES)
    except CaptureError as error:  # names the file; ClipTooLargeError says the limit
        raise ImageReadError(f"Cannot read {path}: {error}") from None
    image = clip.image
    data = image.pixels if image.frames > 1 else image.pixels[0]
    metadata: dict[str, Any] = {
        "source": str(path),
        "bits_stored": 8,
        "ezp2p": {"conversion_type": "DV", "frame_time_ms": clip.frame_time_ms},
        "video": {"codec": image.source_format, "lossy_compression": image.lossy_compression},
    }
    return data, {"name": path.stem, "rgb": True, "metadata": metadata}, "image"


def _read_pdf(path: Path) -> LayerData:
    """The pages rendered at :data:`PDF_DPI` as ``(pages, rows, columns, 3)`` RGB."""
    from ..capture.pdf import render_pages

    image = render_pages(path, dpi=PDF_DPI)  # PdfError is a ValueError naming the file
    data = image.pixels if image.frames > 1 else image.pixels[0]
    metadata: dict[str, Any] = {
        "source": str(path),
        "bits_stored": 8,
        "ezp2p": {"conversion_type": "SD", "pixel_spacing": image.pixel_spacing},
    }
    return data, {"name": path.stem, "rgb": True, "metadata": metadata}, "image"


# --------------------------------------------------------------------------- DICOM


def _read_dicom(path: Path) -> LayerData:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError, EOFError) as error:
        raise ImageReadError(f"Cannot read {path}: not a readable DICOM file ({error})") from None
    if "PixelData" not in ds:
        raise ImageReadError(f"Cannot read {path}: the DICOM object has no pixel data")
    try:
        pixels = ds.pixel_array  # YBR is converted to RGB (pydicom's default)
    except Exception as error:  # noqa: BLE001 - decoders raise anything
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", syntax) or "unknown transfer syntax"
        raise ImageReadError(
            f"Cannot read {path}: its pixel data ({name}) cannot be decoded: {error}"
        ) from None

    samples = int(ds.get("SamplesPerPixel", 1))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    colour = samples == 3
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if frames == 1 and pixels.ndim == (4 if colour else 3):
        pixels = pixels[0]

    limits = None
    if not colour:
        pixels, limits = _grey_for_display(ds, pixels, photometric)

    attributes: dict[str, Any] = {"name": path.stem, "rgb": colour}
    if not colour:
        attributes["colormap"] = "gray"
        attributes["contrast_limits"] = limits or limits_from_data(pixels)
    attributes["metadata"] = {
        "source": str(path),
        "ezp2p": _metadata_fields(ds),
        "dicom": {k: str(ds[k].value) for k in DICOM_KEYWORDS if k in ds},
    }
    if "TransferSyntaxUID" in getattr(ds, "file_meta", {}):
        attributes["metadata"]["dicom"]["TransferSyntaxUID"] = str(ds.file_meta.TransferSyntaxUID)
    return pixels, attributes, "image"


def _grey_for_display(ds, pixels: np.ndarray, photometric: str):
    """Stored values -> modality values (MONOCHROME1 inverted), and the window's limits.

    pydicom's ``apply_modality_lut`` applies the Modality LUT Sequence, or else the
    rescale. The VOI window is kept out of the data: it becomes the contrast limits.
    """
    from pydicom.pixels import apply_modality_lut

    values = pixels
    if _has_modality_transform(ds):
        values = apply_modality_lut(pixels, ds)
    inverted = photometric == "MONOCHROME1"
    if inverted:  # about the middle of the range the modality values can take
        mirror = sum(_modality_range(ds, pixels))
        values = mirror - values.astype(np.float64 if values.dtype.kind == "f" else np.int64)
    if values is not pixels:
        values = _compact(values)

    window = _first_window(ds)
    if window is None:
        return values, None
    center, width = window
    low, high = center - width / 2, center + width / 2
    if inverted:
        low, high = mirror - high, mirror - low
    return values, [low, high]


def _has_modality_transform(ds) -> bool:
    if ds.get("ModalityLUTSequence"):
        return True
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    return slope not in (None, "") and intercept not in (None, "") and (slope, intercept) != (1, 0)


def _modality_range(ds, pixels: np.ndarray) -> tuple[float, float]:
    """The lowest and highest modality value: the LUT's output range, else the rescaled
    range of the stored values (as pydicom's ``apply_windowing`` takes them)."""
    if ds.get("ModalityLUTSequence"):
        return 0, 2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1
    bits = int(ds.get("BitsStored", pixels.dtype.itemsize * 8))
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    if not _has_modality_transform(ds):
        return low, high
    slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
    return tuple(sorted((low * slope + intercept, high * slope + intercept)))


def _compact(values: np.ndarray) -> np.ndarray:
    """Whole values in the smallest integer type that holds them exactly, else float32."""
    if values.dtype.kind == "f" and not np.array_equal(values, np.round(values)):
        return values.astype(np.float32)
    low, high = (int(values.min()), int(values.max())) if values.size else (0, 0)
    for dtype in (np.uint8, np.uint16, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return values.astype(dtype)
    return values.astype(np.float32)


def _first_window(ds) -> tuple[float, float] | None:
    def first(keyword: str) -> float | None:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        if isinstance(value, Sequence) and not isinstance(value, str):
            value = value[0] if len(value) else None
        try:
            return None if value is None else float(value)
        except (TypeError, ValueError):
            return None

    center, width = first("WindowCenter"), first("WindowWidth")
    if center is None or width is None or width <= 0:
        return None
    return center, width


def _copy_without(ds, keyword: str):
    """A shallow copy of ``ds`` without ``keyword``."""
    copy = ds.copy()
    if keyword in copy:
        delattr(copy, keyword)
    return copy


def _metadata_fields(ds) -> dict[str, Any]:
    """The patient, study and series of ``ds`` as Metadata fields (what the writer and
    the Send dock read back); window and rescale come from the layer instead."""
    from ..jobs.study import metadata_from_match

    try:
        fields = dataclasses.asdict(metadata_from_match(ds))
    except (TypeError, ValueError):  # a malformed Series Number: keep the rest
        without = _copy_without(ds, "SeriesNumber")
        fields = dataclasses.asdict(metadata_from_match(without))
    for name in ("queried", "window", "rescale", "pixel_spacing", "frame_time_ms"):
        fields.pop(name)
    spacing = ds.get("PixelSpacing")
    if spacing is not None and len(spacing) == 2:
        fields["pixel_spacing"] = (float(spacing[0]), float(spacing[1]))
    if ds.get("ConversionType"):
        fields["conversion_type"] = str(ds.ConversionType)
    burned_in = str(ds.get("BurnedInAnnotation", "")).upper()
    if burned_in in ("YES", "NO"):  # the file's own claim is a reason; absent, the default
        fields["burned_in_annotation"] = burned_in == "YES"
    return fields
