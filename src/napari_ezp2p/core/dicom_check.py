"""Whether a DICOM data set parses: every element whole and decodable, and Pixel Data
as long as the image it describes needs.

What takes objects in uses it (``ezp2p serve``'s C-STORE, ``convert``'s DICOM inputs),
so that an object that does not parse is refused with the reason, never stored or
passed on as if it were whole.
"""

from __future__ import annotations

import os
import struct
from io import BytesIO

from pydicom import Dataset, dcmread
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import RawDataElement
from pydicom.encaps import parse_basic_offsets, parse_fragments
from pydicom.errors import InvalidDicomError
from pydicom.pixels.utils import get_expected_length
from pydicom.tag import BaseTag

from .errors import Ezp2pError

_UNDEFINED_LENGTH = 0xFFFFFFFF
_PIXEL_DATA = 0x7FE00010
#: Rows, Columns, Bits Allocated: what describes Pixel Data (or Float or Double Float
#: Pixel Data, or Spectroscopy Data, which some objects hold instead).
_IMAGE_ATTRIBUTES = frozenset((0x00280010, 0x00280011, 0x00280100))
_BULK_DATA = frozenset((_PIXEL_DATA, 0x7FE00008, 0x7FE00009, 0x56000020))


class DicomCheckError(Ezp2pError, ValueError):
    """A DICOM data set or file that does not parse (the message says where and why)."""


def read_checked(
    path: str | os.PathLike[str], *, stop_before_pixels: bool = False, force: bool = False
) -> Dataset:
    """The data set of the Part 10 file ``path`` (``force``: or of a data set without
    preamble or meta), checked by :func:`check_dataset`; DicomCheckError when it cannot
    be read or does not parse."""
    try:
        ds = dcmread(path, stop_before_pixels=stop_before_pixels, force=force)
    except InvalidDicomError as error:
        raise DicomCheckError(f"not a DICOM file: {error}") from None
    except OSError as error:
        raise DicomCheckError(f"cannot read: {error.strerror or error}") from None
    except Exception as error:  # noqa: BLE001 - pydicom raises many kinds on broken bytes
        raise DicomCheckError(f"not a readable DICOM file: {_reason(error)}") from None
    check_dataset(ds, pixels=not stop_before_pixels)
    return ds


def check_dataset(ds: Dataset, *, pixels: bool = True) -> None:
    """Raise DicomCheckError unless every element of ``ds`` (its file meta and
    sequence items included) is whole and decodable and its Pixel Data holds what its
    image attributes describe. ``pixels=False`` for a data set read without its pixels."""
    file_meta = getattr(ds, "file_meta", None)
    if file_meta is not None:
        _check_elements(file_meta, "file meta ")
    _check_elements(ds, "")
    if not ds.keys():
        # pydicom reads none of a data set whose last undefined-length element is cut
        raise DicomCheckError("no data set: empty, or cut short")
    for keyword in ("SOPClassUID", "SOPInstanceUID"):
        if not ds.get(keyword):
            raise DicomCheckError(f"no {keyword}: not a whole DICOM object")
    if _PIXEL_DATA in ds:
        _check_pixel_data(ds)
    elif pixels and set(ds.keys()) >= _IMAGE_ATTRIBUTES and not _BULK_DATA & set(ds.keys()):
        # pydicom drops an undefined-length element that the data ends in the middle of
        raise DicomCheckError("image attributes but no Pixel Data: the data set is cut short")


def _check_elements(ds: Dataset, where: str) -> None:
    for tag in list(ds.keys()):
        raw = ds.get_item(tag)
        if (
            isinstance(raw, RawDataElement)
            and raw.length != _UNDEFINED_LENGTH
            and len(raw.value or b"") < raw.length
        ):
            raise DicomCheckError(
                f"{where}{_name(tag)} claims {raw.length} bytes, has {len(raw.value or b'')}"
            )
        try:
            elem = ds[tag]
        except Exception as error:  # noqa: BLE001 - any failure to decode is the object's
            raise DicomCheckError(
                f"{where}{_name(tag)} cannot be decoded: {_reason(error)}"
            ) from None
        if elem.VR == "SQ":
            for number, item in enumerate(elem.value, 1):
                _check_elements(item, f"{where}{_name(tag)} item {number}: ")


def _check_pixel_data(ds: Dataset) -> None:
    value = ds[_PIXEL_DATA].value or b""
    if _encapsulated(ds):
        _check_fragments(value, int(ds.get("NumberOfFrames") or 1))
        return
    try:
        expected = get_expected_length(ds, unit="bytes")
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise DicomCheckError(f"Pixel Data whose image is not described: {error}") from None
    if not isinstance(expected, int):  # an image attribute that is not a number
        raise DicomCheckError(
            f"Pixel Data whose image attributes are not numbers ({expected!r:.40})"
        )
    if len(value) < expected:
        raise DicomCheckError(f"Pixel Data holds {len(value)} bytes, its image needs {expected}")


def _encapsulated(ds: Dataset) -> bool:
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    try:
        if syntax is not None:
            return syntax.is_encapsulated
    except ValueError:  # a private syntax pydicom does not know
        pass
    return ds[_PIXEL_DATA].is_undefined_length


def _check_fragments(value: bytes, frames: int) -> None:
    buffer = BytesIO(value)
    try:
        parse_basic_offsets(buffer)
        count, offsets = parse_fragments(buffer)
    except (ValueError, struct.error) as error:
        raise DicomCheckError(f"encapsulated Pixel Data cannot be parsed: {error}") from None
    if count < frames:
        raise DicomCheckError(
            f"encapsulated Pixel Data holds {count} fragments for {frames} frames"
        )
    last = offsets[-1]
    (length,) = struct.unpack("<L", value[last + 4 : last + 8])
    if last + 8 + length > len(value):
        raise DicomCheckError(
            f"the last Pixel Data fragment claims {length} bytes but holds {len(value) - last - 8}"
        )


def _name(tag: BaseTag) -> str:
    keyword = keyword_for_tag(tag)
    return f"{tag} {keyword}" if keyword else str(tag)


def _reason(error: BaseException) -> str:
    """pydicom wraps a value's error as "With tag ... got exception: ..."; the cause."""
    cause = error.__cause__ or error
    return str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
