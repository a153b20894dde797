"""set_pixel_data checked by decoding what pydicom writes with pydicom, dcmtk and GDCM."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import generate_fragments, parse_basic_offsets
from pydicom.uid import SecondaryCaptureImageStorage, generate_uid

from napari_ezp2p.core.errors import ConversionError
from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.pixels import jpeg_header, set_pixel_data
from napari_ezp2p.core.transfer import TRANSFER_SYNTAXES, transfer_syntax
from tests.peers import (
    dciodvfy_errors,
    dcmtk_decompressed,
    gdcm_decompressed,
    pixels_of,
    require_tool,
)

ROWS, COLUMNS = 64, 80
LOSSLESS = [ts.key for ts in TRANSFER_SYNTAXES if ts.lossless]
J2K = ("j2k-lossless", "j2k")


def _noise(shape, high, dtype, seed=1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, shape, dtype=dtype, endpoint=True)


def _smooth(shape, high, dtype, seed=2) -> np.ndarray:
    """A gradient with a little noise: what lossy codecs are meant for."""
    y, x = np.mgrid[: shape[0], : shape[1]]
    ramp = (y / shape[0] * 0.6 + x / shape[1] * 0.4) * high * 0.9
    if len(shape) == 3:
        ramp = ramp[..., None] * np.array([1.0, 0.7, 0.4])
    noise = np.random.default_rng(seed).normal(0, high / 200, shape)
    return np.clip(ramp + noise, 0, high).astype(dtype)


def _grey16() -> np.ndarray:
    data = _noise((ROWS, COLUMNS), 65535, np.uint16)
    data[0, :2] = (0, 65535)
    return data


IMAGES = {
    "grey8": lambda: SourceImage.from_array(_noise((ROWS, COLUMNS), 255, np.uint8)),
    "grey12": lambda: SourceImage.from_array(_smooth((ROWS, COLUMNS), 4095, np.uint16)),
    "grey16": lambda: SourceImage.from_array(_grey16()),
    "rgb8": lambda: SourceImage.from_array(_noise((ROWS, COLUMNS, 3), 255, np.uint8)),
    "grey8x3": lambda: SourceImage.from_array(_noise((3, ROWS, COLUMNS), 255, np.uint8)),
    "rgb8x2": lambda: SourceImage.from_array(_noise((2, ROWS, COLUMNS, 3), 255, np.uint8)),
}


def _dataset() -> Dataset:
    """A Secondary Capture dataset that dciodvfy finds complete once it has pixels."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.PatientName = "Test^Pixels"
    ds.PatientID = "PIX1"
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = generate_uid()
    ds.StudyDate = "20261129"
    ds.StudyTime = "120000"
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "OT"
    ds.SeriesNumber = 1
    ds.BodyPartExamined = "CHEST"
    ds.ConversionType = "WSD"
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.ContentDate = "20261129"
    ds.ContentTime = "120000"
    return ds


def _write(image: SourceImage, key: str, tmp_path, name: str = "out"):
    ds = _dataset()
    set_pixel_data(ds, image, transfer_syntax(key))
    path = tmp_path / f"{name}.dcm"
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path, ds


def _expected(image: SourceImage) -> np.ndarray:
    """The source pixels in the shape pydicom's pixel_array has."""
    pixels = image.pixels if image.is_colour else image.pixels[..., 0]
    return pixels[0] if image.frames == 1 else pixels


def _fragments(pixel_data: bytes) -> list[bytes]:
    """The fragments of encapsulated Pixel Data, Basic Offset Table left out."""
    return list(generate_fragments(pixel_data))[1:]


def _decoders(path, key, tmp_path) -> dict[str, np.ndarray]:
    """The pixels as pydicom, dcmtk (when it has the codec) and GDCM decode them."""
    decoded = {"pydicom": pixels_of(path), "gdcm": pixels_of(gdcm_decompressed(path, tmp_path))}
    if key not in J2K:  # dcmtk 3.6.7 has no JPEG 2000 codec
        decoded["dcmtk"] = pixels_of(dcmtk_decompressed(path, tmp_path))
    return decoded


@pytest.mark.parametrize("kind", IMAGES)
@pytest.mark.parametrize("key", LOSSLESS)
def test_lossless_is_bit_exact_in_every_decoder(key, kind, tmp_path):
    image = IMAGES[kind]()
    path, ds = _write(image, key, tmp_path)
    expected = _expected(image)
    for decoder, pixels in _decoders(path, key, tmp_path).items():
        assert pixels.shape == expected.shape, decoder
        assert pixels.dtype.newbyteorder("=") == expected.dtype, decoder
        assert np.array_equal(pixels, expected), f"{decoder} decodes {key} {kind} differently"

    read = pydicom.dcmread(path)
    assert read.file_meta.TransferSyntaxUID == transfer_syntax(key).uid
    assert read.BitsAllocated == expected.itemsize * 8
    assert read.BitsStored == image.bits_stored
    assert read.HighBit == image.bits_stored - 1
    assert "LossyImageCompression" not in read
    assert ("NumberOfFrames" in read) == (image.frames > 1)
    assert ("PlanarConfiguration" in read) == image.is_colour
    if not image.is_colour:
        assert read.PhotometricInterpretation == "MONOCHROME2"
    if transfer_syntax(key).encapsulated:
        offsets = parse_basic_offsets(read.PixelData)
        assert len(offsets) == image.frames
        assert len(_fragments(read.PixelData)) == image.frames
    if image.frames == 1:  # the SC Image IOD is single-frame
        assert dciodvfy_errors(path) == []


@pytest.mark.parametrize(
    ("key", "colour"),
    [
        ("implicit-le", "RGB"),
        ("explicit-be", "RGB"),
        ("jpeg-lossless", "RGB"),
        ("jpeg-lossless-sv1", "RGB"),
        ("jpeg-ls", "RGB"),
        ("rle", "RGB"),
        ("j2k-lossless", "YBR_RCT"),
        ("jpeg-baseline", "YBR_FULL_422"),
        ("jpeg-ls-near", "RGB"),
        ("j2k", "YBR_ICT"),
    ],
)
def test_colour_photometric_interpretation(key, colour):
    ds = _dataset()
    set_pixel_data(ds, IMAGES["rgb8"](), transfer_syntax(key))
    assert ds.PhotometricInterpretation == colour
    assert ds.PlanarConfiguration == 0


def test_big_endian_pixel_data_holds_big_endian_words(tmp_path):
    image = IMAGES["grey16"]()
    path, _ = _write(image, "explicit-be", tmp_path)
    raw = path.read_bytes()
    assert image.pixels.astype(">u2").tobytes() in raw
    assert image.pixels.tobytes() not in raw


LOSSY = [
    # (key, image, method, max abs error allowed, PSNR at least)
    ("jpeg-baseline", "grey8", "ISO_10918_1", 20, 38),
    ("jpeg-baseline", "rgb8", "ISO_10918_1", 25, 33),
    ("jpeg-extended", "grey8", "ISO_10918_1", 20, 38),
    ("jpeg-extended", "grey12", "ISO_10918_1", 200, 50),
    ("jpeg-ls-near", "grey8", "ISO_14495_1", 2, 45),
    ("jpeg-ls-near", "grey12", "ISO_14495_1", 2, 60),
    ("jpeg-ls-near", "rgb8", "ISO_14495_1", 2, 45),
    ("j2k", "grey8", "ISO_15444_1", 20, 40),
    ("j2k", "grey12", "ISO_15444_1", 200, 45),
    ("j2k", "rgb8", "ISO_15444_1", 20, 38),
]
SMOOTH = {
    "grey8": lambda: SourceImage.from_array(_smooth((ROWS, COLUMNS), 255, np.uint8)),
    "grey12": lambda: SourceImage.from_array(_smooth((ROWS, COLUMNS), 4095, np.uint16)),
    "rgb8": lambda: SourceImage.from_array(_smooth((ROWS, COLUMNS, 3), 255, np.uint8)),
}


def _psnr(a: np.ndarray, b: np.ndarray, peak: int) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)


@pytest.mark.parametrize(("key", "kind", "method", "max_error", "psnr"), LOSSY)
def test_lossy_is_close_and_says_so(key, kind, method, max_error, psnr, tmp_path):
    image = SMOOTH[kind]()
    path, _ = _write(image, key, tmp_path)
    read = pydicom.dcmread(path)
    assert read.LossyImageCompression == "01"
    assert read.LossyImageCompressionMethod == method
    assert float(read.LossyImageCompressionRatio) > 1
    expected = _expected(image).astype(np.int32)
    peak = 2**image.bits_stored - 1
    for decoder, pixels in _decoders(path, key, tmp_path).items():
        assert pixels.shape == expected.shape, decoder
        assert np.abs(pixels - expected).max() <= max_error, decoder
        assert not np.array_equal(pixels, expected), f"{decoder}: {key} was not lossy"
        assert _psnr(pixels, expected, peak) >= psnr, decoder
    assert dciodvfy_errors(path) == []


def test_lossy_history_comes_first_and_lossless_keeps_it(tmp_path):
    source = SMOOTH["grey8"]()
    image = SourceImage(source.pixels, 8, lossy_compression=("ISO_10918_1", 9.8))
    ds = _dataset()
    set_pixel_data(ds, image, transfer_syntax("jpeg-baseline"))  # a JPEG decoded, re-encoded
    assert ds.LossyImageCompression == "01"
    assert ds.LossyImageCompressionMethod == ["ISO_10918_1", "ISO_10918_1"]
    assert ds.LossyImageCompressionRatio[0] == 9.8
    assert ds.LossyImageCompressionRatio[1] > 1

    set_pixel_data(ds, image, transfer_syntax("jpeg-ls"))
    assert ds.LossyImageCompression == "01"
    assert ds.LossyImageCompressionMethod == "ISO_10918_1"
    assert ds.LossyImageCompressionRatio == 9.8

    set_pixel_data(ds, source, transfer_syntax("rle"))
    for keyword in ("LossyImageCompression", "LossyImageCompressionMethod"):
        assert keyword not in ds


@pytest.mark.parametrize(
    ("key", "method", "hint"),
    [
        ("j2k", "ISO_10918_1", "choose j2k-lossless"),
        ("jpeg-ls-near", "ISO_10918_1", "choose jpeg-ls"),
        ("jpeg-baseline", "ISO_14496_10", "choose a lossless syntax"),
    ],
)
def test_no_second_lossy_step_of_another_method(key, method, hint):
    """dciodvfy: "method inconsistent with Transfer Syntax" for ISO_10918_1\\ISO_15444_1."""
    image = SourceImage(SMOOTH["grey8"]().pixels, 8, lossy_compression=(method, 9.8))
    ds = _dataset()
    with pytest.raises(ConversionError, match=f"already lossy compressed \\({method}\\).*{hint}"):
        set_pixel_data(ds, image, transfer_syntax(key))
    assert "PixelData" not in ds


def test_jpeg_ls_near_stores_sixteen_bits_for_word_data(tmp_path):
    """NEAR may reconstruct up to 2 above the source maximum: 4095 must not wrap."""
    pixels = np.full((ROWS, COLUMNS), 4095, np.uint16)
    pixels[::2, ::3] = 0
    path, ds = _write(SourceImage.from_array(pixels), "jpeg-ls-near", tmp_path)
    assert ds.BitsStored == 16
    assert np.abs(pixels_of(path).astype(np.int32) - pixels).max() <= 2


@pytest.mark.parametrize(
    ("key", "kind", "message"),
    [
        ("jpeg-baseline", "grey12", "jpeg-baseline.*8-bit data only.*choose jpeg-extended"),
        ("jpeg-baseline", "grey16", "jpeg-baseline.*8-bit data only.*jpeg-ls"),
        ("jpeg-extended", "grey16", "jpeg-extended.*at most 12 bits.*jpeg-ls"),
    ],
)
def test_data_a_syntax_cannot_carry_is_an_error(key, kind, message):
    ds = _dataset()
    with pytest.raises(ConversionError, match=message):
        set_pixel_data(ds, IMAGES[kind](), transfer_syntax(key))
    assert "PixelData" not in ds


def test_multiframe_flag():
    ds = _dataset()
    set_pixel_data(ds, IMAGES["grey8"](), transfer_syntax("rle"), multiframe=True)
    assert ds.NumberOfFrames == 1
    set_pixel_data(ds, IMAGES["grey8"](), transfer_syntax("rle"))
    assert "NumberOfFrames" not in ds
    with pytest.raises(ConversionError, match="3 frames"):
        set_pixel_data(ds, IMAGES["grey8x3"](), transfer_syntax("rle"), multiframe=False)


def _pillow_jpeg(array: np.ndarray, **options) -> tuple[bytes, np.ndarray]:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", quality=85, **options)
    stream = buffer.getvalue()
    return stream, np.asarray(Image.open(io.BytesIO(stream)))


@pytest.mark.parametrize(
    ("kind", "options", "photometric"),
    [
        ("grey8", {}, "MONOCHROME2"),
        ("rgb8", {"subsampling": 2}, "YBR_FULL_422"),
        ("rgb8", {"subsampling": 0}, "YBR_FULL_422"),  # YBR_FULL is not allowed with JPEG
        ("rgb8", {"subsampling": 0, "keep_rgb": True}, "RGB"),  # Adobe transform 0
    ],
)
@pytest.mark.parametrize("key", ["jpeg-baseline", "jpeg-extended"])
def test_jpeg_bitstream_passes_through(key, kind, options, photometric, tmp_path):
    stream, decoded = _pillow_jpeg(_expected(SMOOTH[kind]()), **options)
    image = SourceImage.from_array(
        decoded, jpeg_bitstream=stream, lossy_compression=("ISO_10918_1", 7.5)
    )
    path, _ = _write(image, key, tmp_path)
    read = pydicom.dcmread(path)
    (fragment,) = _fragments(read.PixelData)
    assert fragment in (stream, stream + b"\0")
    assert read.PhotometricInterpretation == photometric
    assert read.LossyImageCompressionMethod == "ISO_10918_1"  # no second generation
    assert read.LossyImageCompressionRatio == 7.5
    for decoder in ("pydicom", "dcmtk"):
        if decoder == "pydicom":
            pixels = pixels_of(path)
        else:
            pixels = pixels_of(dcmtk_decompressed(path, tmp_path))
        # pydicom converts YCbCr to RGB itself: a few samples end up 3 levels off libjpeg.
        assert np.abs(pixels.astype(np.int32) - decoded).max() <= 3, decoder
        assert np.abs(pixels.astype(np.int32) - decoded).mean() < 0.5, decoder
    assert dciodvfy_errors(path) == []


def test_jpeg_bitstream_without_history_gets_its_ratio():
    stream, decoded = _pillow_jpeg(_expected(SMOOTH["rgb8"]()))
    image = SourceImage.from_array(decoded, jpeg_bitstream=stream)
    ds = _dataset()
    set_pixel_data(ds, image, transfer_syntax("jpeg-baseline"))
    assert ds.LossyImageCompressionMethod == "ISO_10918_1"
    assert float(ds.LossyImageCompressionRatio) == pytest.approx(
        decoded.nbytes / len(stream), 0.01
    )


def test_progressive_jpeg_is_re_encoded():
    stream, decoded = _pillow_jpeg(_expected(SMOOTH["rgb8"]()), progressive=True)
    assert jpeg_header(stream).sof == 0xC2
    image = SourceImage.from_array(decoded, jpeg_bitstream=stream)
    ds = _dataset()
    set_pixel_data(ds, image, transfer_syntax("jpeg-baseline"))
    (fragment,) = _fragments(ds.PixelData)
    assert jpeg_header(fragment).sof == 0xC0
    assert ds.PhotometricInterpretation == "YBR_FULL_422"


def test_jpeg_header_colour_rules():
    stream, _ = _pillow_jpeg(_expected(SMOOTH["rgb8"]()), subsampling=0)
    header = jpeg_header(stream)
    assert (header.sof, header.precision, header.rows, header.columns) == (0xC0, 8, ROWS, COLUMNS)
    assert header.photometric == "YBR_FULL_422"
    assert {c[1:] for c in header.components} == {(1, 1)}
    rgb_ids = type(header)(0xC0, 8, 1, 1, ((82, 1, 1), (71, 1, 1), (66, 1, 1)), None)
    assert rgb_ids.photometric == "RGB"
    adobe_rgb = type(header)(0xC0, 8, 1, 1, ((1, 2, 2), (2, 1, 1), (3, 1, 1)), 0)
    assert adobe_rgb.photometric == "RGB"
    assert jpeg_header(b"not a jpeg") is None


def test_dcmtk_is_there():
    """The peers these tests rely on are installed (a missing one fails, never skips)."""
    for tool in ("dcmdjpeg", "dcmdjpls", "dcmdrle", "dcmconv", "gdcmconv", "dciodvfy"):
        require_tool(tool)
