"""A JPEG encapsulated as it is loses its EXIF, XMP and comments, never a scan byte."""

from __future__ import annotations

import io
from datetime import datetime

import numpy as np
import pydicom
from PIL import Image
from pydicom.encaps import generate_frames
from pydicom.uid import JPEGBaseline8Bit

from napari_ezp2p.core.convert import write_atomically
from napari_ezp2p.core.imageio import read_image
from napari_ezp2p.core.jpegsegments import segments, without_metadata
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.sc import build_sc, complete_metadata
from napari_ezp2p.core.transfer import transfer_syntax
from tests.peers import dciodvfy_errors

GPS_AREA = b"Near the patient's home"


def _photo_with_gps(path, **save):
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1], gps[3] = "N", "E"  # latitude and longitude references
    gps[27] = GPS_AREA  # GPSAreaInformation
    pixels = np.random.default_rng(8).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, exif=exif, comment=b"Jane Doe's scan", **save)
    return path


def _entropy_coded(stream: bytes) -> bytes:
    """The bytes from the first SOS to EOI."""
    sos = next(s for s in segments(stream) if s.marker == 0xDA)
    return stream[sos.start : stream.rindex(b"\xff\xd9") + 2]


def test_a_passthrough_jpeg_keeps_no_gps_and_decodes_to_the_source_pixels(tmp_path):
    photo = _photo_with_gps(tmp_path / "photo.jpg", quality=85)
    source = photo.read_bytes()
    assert GPS_AREA in source and b"Jane Doe" in source and b"SecretCam" in source

    meta = complete_metadata(Metadata(patient_name="DOE^JANE"), datetime(2026, 11, 29))
    ds = build_sc(read_image(photo), meta, transfer_syntax("jpeg-baseline"))
    path = write_atomically(ds, tmp_path / "photo.dcm")
    assert dciodvfy_errors(path) == []
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit

    (frame,) = generate_frames(ds.PixelData, number_of_frames=1)
    for secret in (GPS_AREA, b"Jane Doe", b"SecretCam", b"Exif\0"):
        assert secret not in ds.PixelData
    assert _entropy_coded(source) in frame
    assert frame.startswith(b"\xff\xd8\xff\xe0\x00\x10JFIF\0")
    expected = np.asarray(Image.open(photo))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(frame))), expected)


def test_adobe_app14_stays_and_what_follows_eoi_goes():
    buffer = io.BytesIO()
    Image.new("CMYK", (16, 8), (10, 20, 30, 40)).save(buffer, "JPEG")
    source = buffer.getvalue()
    assert any(s.marker == 0xEE for s in segments(source))  # Pillow writes Adobe for CMYK
    stripped = without_metadata(source + b"\xff\xd8 a second picture")
    assert stripped == source
