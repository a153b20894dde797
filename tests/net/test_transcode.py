"""net.transcode: what the sender does when a PACS did not accept an object's syntax."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
)

from napari_ezp2p.core.convert import convert_images
from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.transfer import transfer_syntax
from napari_ezp2p.net.transcode import TranscodeError, transcode
from tests.net.helpers import COLUMNS, ROWS, grey8, sc_objects


def _one(array: np.ndarray, ts: str):
    image = SourceImage.from_array(array)
    meta = Metadata(patient_name="T^T", patient_id="P")
    return convert_images([image], meta, transfer_syntax(ts), datetime.now())[0]


def _colour() -> np.ndarray:
    rng = np.random.default_rng(5)
    return rng.integers(0, 256, (ROWS, COLUMNS, 3), dtype=np.uint8)


def test_lossy_colour_jpeg_decodes_to_explicit_le_keeping_uid_and_history():
    ds = _one(_colour(), "jpeg-baseline")
    out = transcode(ds, ExplicitVRLittleEndian)
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert out.SOPInstanceUID == ds.SOPInstanceUID
    assert out.PhotometricInterpretation == "RGB"
    assert np.array_equal(out.pixel_array, ds.pixel_array)  # pydicom's decode, now native
    assert out.LossyImageCompression == "01"
    assert out.LossyImageCompressionMethod == ds.LossyImageCompressionMethod
    assert ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit  # the original is untouched


@pytest.mark.parametrize("target", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_sixteen_bit_big_endian_to_little_endian(target):
    data = np.random.default_rng(3).integers(0, 65535, (ROWS, COLUMNS), dtype=np.uint16)
    ds = _one(data, "explicit-be")
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRBigEndian
    out = transcode(ds, target)
    assert out.file_meta.TransferSyntaxUID == target
    assert np.array_equal(out.pixel_array, data)
    assert "LossyImageCompression" not in out


def test_lossless_to_lossless_compressed_and_multiframe():
    frames = np.stack([grey8(1), grey8(2), grey8(3)])
    ds = _one(frames, "jpeg-ls")
    out = transcode(ds, JPEG2000Lossless)
    assert out.file_meta.TransferSyntaxUID == JPEG2000Lossless
    assert out.NumberOfFrames == 3
    assert np.array_equal(out.pixel_array, frames)


def test_monochrome1_stays_monochrome1():
    ds = sc_objects(1, "rle")[0]
    ds.PhotometricInterpretation = "MONOCHROME1"
    out = transcode(ds, ExplicitVRLittleEndian)
    assert out.PhotometricInterpretation == "MONOCHROME1"
    assert np.array_equal(out.pixel_array, grey8(1))


def test_never_into_a_lossy_syntax():
    ds = sc_objects(1, "explicit-le")[0]
    with pytest.raises(TranscodeError, match="lossy"):
        transcode(ds, JPEGBaseline8Bit)


def test_same_syntax_is_the_same_object():
    ds = sc_objects(1, "jpeg-ls")[0]
    assert transcode(ds, ds.file_meta.TransferSyntaxUID) is ds
