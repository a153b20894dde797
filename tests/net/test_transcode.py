"""net.transcode: what the sender does when a PACS did not accept an object's syntax."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import (
    JPEG2000,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    JPEGLSNearLossless,
)

from napari_ezp2p.core.convert import convert_images
from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.transfer import transfer_syntax
from napari_ezp2p.net.store import store
from napari_ezp2p.net.transcode import TranscodeError, transcode
from tests.net.helpers import COLUMNS, ROWS, SETTINGS, fake_scp, grey8, sc_objects
from tests.peers import dciodvfy_findings


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


_LOSSY_KEYWORDS = (
    "LossyImageCompression",
    "LossyImageCompressionMethod",
    "LossyImageCompressionRatio",
)


def _from_elsewhere(ts: str, as_syntax=None, **history):
    """An object in ``ts`` (relabelled ``as_syntax``) with the lossy history ``history``
    only, as another application may write it: the Type 3 attributes are optional."""
    ds = sc_objects(1, ts)[0]
    for keyword in _LOSSY_KEYWORDS:
        if keyword in ds:
            del ds[keyword]
    for keyword, value in history.items():
        setattr(ds, keyword, value)
    if as_syntax is not None:
        ds.file_meta.TransferSyntaxUID = as_syntax
    return ds


@pytest.mark.parametrize("target", [ExplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless])
@pytest.mark.parametrize(
    ("ts", "method"),
    [("jpeg-ls-near", "ISO_14495_1"), ("j2k", "ISO_15444_1"), ("jpeg-baseline", "ISO_10918_1")],
)
def test_a_lossy_object_without_the_flag_arrives_lossy(ts, method, target, tmp_path):
    ds = _from_elsewhere(ts)
    out = transcode(ds, target)
    assert out.LossyImageCompression == "01"
    assert out.LossyImageCompressionMethod == method
    assert 1 < out.LossyImageCompressionRatio < 10
    path = tmp_path / "out.dcm"
    out.save_as(path, enforce_file_format=True)
    assert dciodvfy_findings(path) == []


def test_a_near_lossless_step_joins_the_history_it_came_with():
    ds = _from_elsewhere(
        "jpeg-ls-near",
        LossyImageCompression="01",
        LossyImageCompressionMethod="ISO_10918_1",
        LossyImageCompressionRatio="9.8",
    )
    out = transcode(ds, ExplicitVRLittleEndian)
    assert out.LossyImageCompressionMethod == ["ISO_10918_1", "ISO_14495_1"]
    assert out.LossyImageCompressionRatio[0] == 9.8
    assert len(out.LossyImageCompressionRatio) == 2


def test_a_recorded_near_lossless_step_is_not_recorded_twice():
    ds = sc_objects(1, "jpeg-ls-near")[0]
    assert ds.LossyImageCompressionMethod == "ISO_14495_1"
    out = transcode(ds, ImplicitVRLittleEndian)
    assert out.LossyImageCompression == "01"
    assert out.LossyImageCompressionMethod == "ISO_14495_1"
    assert out.LossyImageCompressionRatio == ds.LossyImageCompressionRatio


@pytest.mark.parametrize(
    ("ts", "as_syntax"),
    [
        ("jpeg-ls", None),
        ("jpeg-ls", JPEGLSNearLossless),  # NEAR 0: lossless in the near-lossless syntax
        ("j2k-lossless", JPEG2000),  # a reversible codestream in the lossy-or-lossless one
        ("rle", None),
    ],
)
def test_an_object_that_arrived_lossless_has_no_flag(ts, as_syntax):
    out = transcode(_from_elsewhere(ts, as_syntax), ExplicitVRLittleEndian)
    assert np.array_equal(out.pixel_array, grey8(1))
    for keyword in _LOSSY_KEYWORDS:
        assert keyword not in out


def test_same_syntax_is_the_same_object():
    ds = sc_objects(1, "jpeg-ls")[0]
    assert transcode(ds, ds.file_meta.TransferSyntaxUID) is ds


def _item(value: bytes) -> bytes:
    return b"\xfe\xff\x00\xe0" + len(value).to_bytes(4, "little") + value


_SEQUENCE_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


def _broken(ts: str, frames: int, pixel_data: bytes):
    ds = sc_objects(1, ts)[0]
    ds.NumberOfFrames = frames
    ds.PixelData = pixel_data
    ds["PixelData"].is_undefined_length = True
    return ds


def _fragments(ds) -> bytes:
    return encapsulate(list(generate_frames(ds.PixelData, number_of_frames=1)))


@pytest.mark.parametrize("ts", ["rle", "jpeg-ls", "jpeg-baseline"])
def test_fewer_fragments_than_frames_says_what_could_not_be_decoded(ts):
    ds = _broken(ts, 2, _fragments(sc_objects(1, ts)[0]))  # one frame, two declared
    with pytest.raises(TranscodeError) as raised:
        transcode(ds, ExplicitVRLittleEndian)
    assert str(raised.value) == (
        f"cannot decode the pixel data of {ds.SOPInstanceUID} "
        f"({ds.file_meta.TransferSyntaxUID.name}): it holds fewer frames than its "
        "Number of Frames (2)"
    )


def test_an_empty_fragment_says_what_could_not_be_decoded_in_one_line():
    ds = _broken("rle", 1, _item(b"") + _item(b"") + _SEQUENCE_END)
    with pytest.raises(TranscodeError) as raised:
        transcode(ds, ExplicitVRLittleEndian)
    message = str(raised.value)
    assert message.startswith(
        f"cannot decode the pixel data of {ds.SOPInstanceUID} (RLE Lossless): "
    )
    assert "\n" not in message and "RLE" in message.split(": ", 1)[1]


def test_an_object_that_cannot_be_decoded_fails_alone():
    # the peer takes native syntaxes only: the RLE objects are transcoded, one cannot be
    good, bad, last = sc_objects(3, "rle")
    bad.NumberOfFrames = 2
    with fake_scp() as scp:
        report = store([good, bad, last], scp.destination, SETTINGS)
    assert report.outcomes[0].category == "success"
    assert report.outcomes[1].category == "rejected"  # it would not decode next time either
    assert report.outcomes[1].message.startswith(
        f"cannot decode the pixel data of {bad.SOPInstanceUID} (RLE Lossless): "
    )
    assert report.outcomes[2].category == "success"
