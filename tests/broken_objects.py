"""DICOM files broken on purpose, byte by byte, for the tests of what must refuse them."""

from __future__ import annotations

import struct
from datetime import datetime
from pathlib import Path

import numpy as np

from napari_ezp2p.core.convert import convert_images, write_atomically
from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.transfer import transfer_syntax

_PIXEL_DATA_OW = b"\xe0\x7f\x10\x00OW\x00\x00"


def sc_file(path: Path, meta: Metadata | None = None, seed: int = 0) -> Path:
    """A whole Secondary Capture file (explicit VR little endian, 32 x 40 16-bit)."""
    pixels = np.random.default_rng(seed).integers(0, 4096, (32, 40), dtype=np.uint16)
    (ds,) = convert_images(
        [SourceImage.from_array(pixels)],
        meta or Metadata(patient_id="P1"),
        transfer_syntax("explicit-le"),
        now=datetime(2026, 11, 29, 10, 0, 0),
    )
    return write_atomically(ds, path)


def pixel_data_claiming_4_gib(path: Path) -> Path:
    """An SC file whose Pixel Data says it holds 0xFFFFFFF0 bytes and holds 3."""
    data = sc_file(path).read_bytes()
    start = data.rindex(_PIXEL_DATA_OW)
    path.write_bytes(data[:start] + _PIXEL_DATA_OW + struct.pack("<L", 0xFFFFFFF0) + b"abc")
    return path


def instance_number_overflowing(path: Path) -> Path:
    """An SC file whose Instance Number is "1e999": no integer pydicom can make."""
    data = sc_file(path).read_bytes()
    element = b"\x20\x00\x13\x00IS\x02\x001 "
    assert data.count(element) == 1
    path.write_bytes(data.replace(element, b"\x20\x00\x13\x00IS\x06\x001e999 "))
    return path
