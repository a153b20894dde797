"""read_image and is_supported_image on files written in the test with Pillow and tifffile."""

from __future__ import annotations

import struct
import zlib
from datetime import datetime

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageFile
from pydicom.encaps import generate_frames

from napari_ezp2p.core import imageio
from napari_ezp2p.core.errors import ImageReadError
from napari_ezp2p.core.image import DeferredPixels
from napari_ezp2p.core.imageio import is_supported_image, read_image
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.sc import build_sc, complete_metadata
from napari_ezp2p.core.transfer import transfer_syntax
from napari_ezp2p.jobs.convert import convert_inputs
from napari_ezp2p.jobs.inputs import SyntaxChoice

ORIENTATION = 0x0112


def _marked(rows=20, columns=30, mode="L"):
    """A black image with a white 4x4 marker in its top-left corner."""
    array = np.zeros((rows, columns, 3) if mode == "RGB" else (rows, columns), np.uint8)
    array[:4, :4] = 255
    return Image.fromarray(array)


def _with_orientation(image, path, orientation, **options):
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    image.save(path, exif=exif, **options)
    return path


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(path, width, height, bit_depth, colour_type, raw: bytes = b""):
    """A PNG written by hand, for what Pillow does not write (RGB48, lying headers)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )
    return path


def _error(path) -> str:
    with pytest.raises(ImageReadError) as caught:
        read_image(path)
    message = str(caught.value)
    assert str(path) in message
    return message


# --- orientation ------------------------------------------------------------------------


def test_png_exif_orientation_6_is_rotated_clockwise(tmp_path):
    image = read_image(_with_orientation(_marked(), tmp_path / "a.png", 6))
    assert image.pixels.shape == (1, 30, 20, 1)
    assert image.pixels[0, 0, -1, 0] == 255  # top-left marker is now top-right
    assert image.pixels[0, 0, 0, 0] == 0


def test_jpeg_exif_orientation_6_is_rotated_and_not_passed_through(tmp_path):
    path = _with_orientation(_marked(mode="RGB"), tmp_path / "a.jpg", 6, quality=95)
    image = read_image(path)
    assert image.pixels.shape == (1, 30, 20, 3)
    assert (image.pixels[0, 1, -2] > 200).all()
    assert (image.pixels[0, 1, 1] < 50).all()
    assert image.jpeg_bitstream is None


def test_tiff_orientation_tag_is_applied_and_swaps_spacing(tmp_path):
    path = tmp_path / "a.tif"
    tifffile.imwrite(
        path, np.asarray(_marked()), resolution=(100, 50), resolutionunit="CENTIMETER",
        extratags=[(274, "H", 1, 6, False)],
    )  # fmt: skip
    image = read_image(path)
    assert image.pixels.shape == (1, 30, 20, 1)
    assert image.pixels[0, 0, -1, 0] == 255
    assert image.pixel_spacing == pytest.approx((0.1, 0.2))


# --- modes ------------------------------------------------------------------------------


def test_palette_with_colour_becomes_rgb(tmp_path):
    image = Image.fromarray(np.array([[0, 1], [1, 2]], np.uint8), mode="P")
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    image.save(tmp_path / "a.png")
    pixels = read_image(tmp_path / "a.png").pixels
    assert pixels.shape == (1, 2, 2, 3)
    assert pixels[0, 0, 0].tolist() == [255, 0, 0]
    assert pixels[0, 1, 1].tolist() == [0, 0, 255]


def test_palette_of_greys_becomes_grey(tmp_path):
    image = Image.fromarray(np.array([[0, 1], [1, 2]], np.uint8), mode="P")
    image.putpalette([10, 10, 10, 128, 128, 128, 250, 250, 250])
    image.save(tmp_path / "a.png")
    pixels = read_image(tmp_path / "a.png").pixels
    assert pixels.shape == (1, 2, 2, 1)
    assert pixels[0, :, :, 0].tolist() == [[10, 128], [128, 250]]


def test_palette_tiff_becomes_rgb(tmp_path):
    colormap = np.zeros((3, 256), np.uint16)
    colormap[:, 1] = (65535, 32768, 0)
    tifffile.imwrite(
        tmp_path / "a.tif", np.array([[0, 1]], np.uint8), photometric="palette",
        colormap=colormap,
    )  # fmt: skip
    pixels = read_image(tmp_path / "a.tif").pixels
    assert pixels[0, 0].tolist() == [[0, 0, 0], [255, 128, 0]]


def test_one_bit_becomes_8_bit_grey(tmp_path):
    Image.fromarray(np.array([[True, False]])).save(tmp_path / "a.png")
    tifffile.imwrite(tmp_path / "a.tif", np.array([[True, False]]), photometric="miniswhite")
    assert read_image(tmp_path / "a.png").pixels[0, 0, :, 0].tolist() == [255, 0]
    assert read_image(tmp_path / "a.tif").pixels[0, 0, :, 0].tolist() == [0, 255]


def test_rgba_is_composited_over_white(tmp_path):
    array = np.array([[[10, 20, 30, 0], [10, 20, 30, 255], [0, 0, 0, 128]]], np.uint8)
    Image.fromarray(array).save(tmp_path / "a.png")
    tifffile.imwrite(tmp_path / "a.tif", array, photometric="rgb", extrasamples=["unassalpha"])
    for name in ("a.png", "a.tif"):
        image = read_image(tmp_path / name)
        assert image.pixels.shape == (1, 1, 3, 3)
        assert image.pixels[0, 0].tolist() == [[255, 255, 255], [10, 20, 30], [127, 127, 127]]


def test_la_is_composited_over_white_and_stays_grey(tmp_path):
    array = np.array([[[40, 0], [40, 255]]], np.uint8)
    Image.fromarray(array, mode="LA").save(tmp_path / "a.png")
    pixels = read_image(tmp_path / "a.png").pixels
    assert pixels.shape == (1, 1, 2, 1)
    assert pixels[0, 0, :, 0].tolist() == [255, 40]


def test_cmyk_jpeg_reads_as_pillow_converts_it(tmp_path):
    path = tmp_path / "a.jpg"
    Image.new("CMYK", (8, 8), (10, 20, 30, 40)).save(path, quality=100)
    image = read_image(path)
    expected = np.asarray(Image.open(path).convert("RGB"))
    assert image.pixels.shape == (1, 8, 8, 3)
    np.testing.assert_array_equal(image.pixels[0], expected)
    assert np.abs(image.pixels[0, 0, 0].astype(int) - (207, 198, 190)).max() <= 3
    assert image.jpeg_bitstream is None


def test_cmyk_tiff_becomes_rgb(tmp_path):
    tifffile.imwrite(
        tmp_path / "a.tif", np.full((2, 2, 4), (10, 20, 30, 40), np.uint8),
        photometric="separated",
    )  # fmt: skip
    assert read_image(tmp_path / "a.tif").pixels[0, 0, 0].tolist() == [207, 198, 190]


def test_ycbcr_tiff_becomes_rgb(tmp_path):
    ycbcr = np.full((4, 4, 3), (100, 90, 200), np.uint8)
    tifffile.imwrite(tmp_path / "a.tif", ycbcr, photometric="ycbcr", subsampling=(1, 1))
    expected = Image.new("YCbCr", (1, 1), (100, 90, 200)).convert("RGB").getpixel((0, 0))
    assert read_image(tmp_path / "a.tif").pixels[0, 0, 0].tolist() == list(expected)


def test_jpeg_compressed_tiff_is_rgb_and_lossy(tmp_path):
    rgb = np.full((16, 16, 3), (200, 50, 20), np.uint8)
    tifffile.imwrite(tmp_path / "a.tif", rgb, photometric="rgb", compression="jpeg")
    image = read_image(tmp_path / "a.tif")
    assert np.abs(image.pixels[0, 0, 0].astype(int) - (200, 50, 20)).max() <= 3
    assert image.lossy_compression[0] == "ISO_10918_1"
    assert image.jpeg_bitstream is None


def test_16_bit_grey_png_and_tiff_stay_16_bit(tmp_path):
    twelve = np.arange(0, 4096, 64, dtype=np.uint16).reshape(8, 8)
    sixteen = twelve * 16 + 15
    Image.fromarray(twelve).save(tmp_path / "a.png", dpi=(300, 300))
    tifffile.imwrite(tmp_path / "a.tif", sixteen, resolution=(300, 300))
    png, tiff = read_image(tmp_path / "a.png"), read_image(tmp_path / "a.tif")
    np.testing.assert_array_equal(png.pixels[0, :, :, 0], twelve)
    np.testing.assert_array_equal(tiff.pixels[0, :, :, 0], sixteen)
    assert (png.pixels.dtype, png.bits_stored, png.conversion_type) == (np.uint16, 12, "DF")
    assert (tiff.pixels.dtype, tiff.bits_stored, tiff.conversion_type) == (np.uint16, 16, "DF")


def test_rgb48_becomes_8_bit_by_high_byte(tmp_path):
    array = np.array([[[0x1234, 0xABCD, 0xFF00], [0x00FF, 0x8000, 0xFFFF]]], np.uint16)
    _png(tmp_path / "a.png", 2, 1, 16, 2, b"\x00" + array.astype(">u2").tobytes())
    tifffile.imwrite(tmp_path / "a.tif", array, photometric="rgb")
    for name in ("a.png", "a.tif"):
        image = read_image(tmp_path / name)
        assert image.pixels.dtype == np.uint8
        assert image.pixels[0, 0].tolist() == [[0x12, 0xAB, 0xFF], [0x00, 0x80, 0xFF]]
        assert image.conversion_type == "WSD"


def test_tiff_planar_rgb(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (3, 5, 7), np.uint8)
    tifffile.imwrite(tmp_path / "a.tif", array, photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(
        read_image(tmp_path / "a.tif").pixels[0], array.transpose(1, 2, 0)
    )


def test_float_tiff_is_16_bit_when_exact_and_an_error_otherwise(tmp_path):
    tifffile.imwrite(tmp_path / "exact.tif", np.array([[0.0, 1000.0, 65535.0]], np.float32))
    tifffile.imwrite(tmp_path / "fraction.tif", np.array([[0.5, 2.0]], np.float32))
    tifffile.imwrite(tmp_path / "negative.tif", np.array([[-1, 2]], np.int32))
    exact = read_image(tmp_path / "exact.tif")
    assert exact.pixels.dtype == np.uint16
    assert exact.pixels[0, 0, :, 0].tolist() == [0, 1000, 65535]
    assert "do not fit 16-bit unsigned integers" in _error(tmp_path / "fraction.tif")
    assert "int32 pixel values (-1 to 2)" in _error(tmp_path / "negative.tif")


# --- multi-page TIFF --------------------------------------------------------------------


def test_multi_page_tiff_is_one_multi_frame_image(tmp_path):
    stack = np.stack([np.full((4, 6), value, np.uint16) for value in (100, 2000, 4000)])
    tifffile.imwrite(tmp_path / "a.tif", stack, photometric="minisblack")
    image = read_image(tmp_path / "a.tif")
    assert image.pixels.shape == (3, 4, 6, 1)
    assert image.pixels[:, 0, 0, 0].tolist() == [100, 2000, 4000]
    assert image.bits_stored == 12


def test_multi_page_rgb_tiff(tmp_path):
    path = tmp_path / "a.tif"
    for value in (10, 20):
        tifffile.imwrite(path, np.full((4, 3, 3), value, np.uint8), append=True)
    image = read_image(path)
    assert image.pixels.shape == (2, 4, 3, 3)
    assert image.pixels[:, 0, 0, 0].tolist() == [10, 20]


def test_tiff_pages_of_different_shapes_or_kinds_are_an_error(tmp_path):
    tifffile.imwrite(tmp_path / "shape.tif", np.zeros((4, 6), np.uint8), append=True)
    tifffile.imwrite(tmp_path / "shape.tif", np.zeros((5, 6), np.uint8), append=True)
    tifffile.imwrite(tmp_path / "kind.tif", np.zeros((4, 6), np.uint8), append=True)
    tifffile.imwrite(tmp_path / "kind.tif", np.zeros((4, 6), np.uint16), append=True)
    assert "page 2 is 5x6 uint8" in _error(tmp_path / "shape.tif")
    assert "page 2 is 4x6 uint16" in _error(tmp_path / "kind.tif")


# --- JPEG bitstream ---------------------------------------------------------------------


def _photo(path, mode="RGB", **options):
    array = np.random.default_rng(3).integers(0, 256, (32, 48, 3), np.uint8)
    Image.fromarray(array).convert(mode).save(path, quality=90, **options)
    return path


def test_baseline_jpeg_passes_through_with_its_ratio(tmp_path):
    for mode in ("RGB", "L"):
        path = _photo(tmp_path / f"{mode}.jpg", mode)
        image = read_image(path)
        assert image.jpeg_bitstream == path.read_bytes()
        ratio = round(image.pixels.nbytes / path.stat().st_size, 2)
        assert image.lossy_compression == ("ISO_10918_1", ratio)
        assert (image.source_format, image.conversion_type) == ("JPEG", "WSD")


def test_extended_sequential_jpeg_passes_through(tmp_path):
    data = _photo(tmp_path / "a.jpg").read_bytes().replace(b"\xff\xc0", b"\xff\xc1", 1)
    (tmp_path / "sof1.jpg").write_bytes(data)
    assert read_image(tmp_path / "sof1.jpg").jpeg_bitstream == data


def _sc(image, key):
    meta = complete_metadata(Metadata(), datetime(2026, 11, 29, 12))
    return build_sc(image, meta, transfer_syntax(key))


def test_passthrough_reads_only_the_header_and_never_decodes(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(imageio, "_decode_jpeg", lambda *args: calls.append(args))
    for mode in ("RGB", "L"):
        path = _photo(tmp_path / f"{mode}.jpg", mode)
        image = read_image(path)
        assert isinstance(image.data, DeferredPixels)
        samples = 3 if mode == "RGB" else 1
        assert (image.frames, image.rows, image.columns, image.samples) == (1, 32, 48, samples)
        ratio = round(32 * 48 * samples / path.stat().st_size, 2)
        assert image.lossy_compression == ("ISO_10918_1", ratio)
        for key in ("jpeg-baseline", "jpeg-extended"):
            ds = _sc(image, key)
            fragment = next(generate_frames(ds.PixelData, number_of_frames=1))
            assert fragment.rstrip(b"\0") == path.read_bytes()
            assert ds.LossyImageCompressionRatio == f"{ratio:.2f}"
    assert calls == []


def test_deferred_jpeg_decodes_when_another_syntax_needs_the_pixels(tmp_path):
    path = _photo(tmp_path / "a.jpg")
    with Image.open(path) as opened:
        expected = np.asarray(opened.convert("RGB"))
    image = read_image(path)
    ds = _sc(image, "explicit-le")
    np.testing.assert_array_equal(ds.pixel_array, expected)
    np.testing.assert_array_equal(image.pixels[0], expected)
    assert not ds["PixelData"].is_undefined_length
    ds = _sc(image, "jpeg-ls")
    np.testing.assert_array_equal(ds.pixel_array, expected)
    assert ds["PixelData"].is_undefined_length  # encapsulated, as pynetdicom must send it


def test_truncated_jpeg_is_an_error_whatever_the_transfer_syntax(tmp_path):
    path = _photo(tmp_path / "a.jpg")
    path.write_bytes(path.read_bytes()[:-200])
    for key in ("jpeg-baseline", "explicit-le"):
        (done,) = convert_inputs([path], tmp_path / key, Metadata(), SyntaxChoice.of(key))
        assert done.written is None
        assert str(path) in done.error and "truncated" in done.error
        assert not list((tmp_path / key).iterdir())


def test_jpeg_with_a_damaged_scan_header_is_decoded_before_it_is_used(tmp_path):
    data = bytearray(_photo(tmp_path / "a.jpg").read_bytes())
    sos = data.find(b"\xff\xda")
    data[sos + 5] = 9  # the first scan names a component the frame does not have
    (tmp_path / "b.jpg").write_bytes(data)
    assert "truncated or damaged" in _error(tmp_path / "b.jpg")


def test_damage_found_only_by_decoding_is_an_error_when_the_pixels_are_needed(tmp_path):
    data = bytearray(_photo(tmp_path / "a.jpg").read_bytes())
    sof = data.find(b"\xff\xc0")
    data[sof + 12] = 3  # component 1 uses quantisation table 3, which is not defined
    path = tmp_path / "b.jpg"
    path.write_bytes(data)
    image = read_image(path)  # only the markers were read: they are whole
    with pytest.raises(ImageReadError, match="truncated or damaged") as caught:
        _sc(image, "jpeg-ls")
    assert str(path) in str(caught.value)
    with pytest.raises(ImageReadError):
        _ = image.pixels


def test_jpeg_with_data_after_its_end_is_read_as_before(tmp_path):
    path = _photo(tmp_path / "a.jpg")
    data = path.read_bytes() + b"\0" * 10
    path.write_bytes(data)
    image = read_image(path)
    assert isinstance(image.data, np.ndarray)  # decoded at once, as before
    assert image.jpeg_bitstream == data


def test_progressive_jpeg_has_no_bitstream_but_is_lossy(tmp_path):
    image = read_image(_photo(tmp_path / "a.jpg", progressive=True))
    assert image.jpeg_bitstream is None
    assert image.lossy_compression[0] == "ISO_10918_1"


def test_rgb_coded_jpeg_has_no_bitstream(tmp_path):
    image = read_image(_photo(tmp_path / "a.jpg", keep_rgb=True))  # RGB, not YCbCr, inside
    assert image.jpeg_bitstream is None
    assert image.lossy_compression is not None


# --- formats and bad input --------------------------------------------------------------


def test_content_decides_the_format(tmp_path):
    Image.new("RGB", (3, 2), (1, 2, 3)).save(tmp_path / "a.png")
    (tmp_path / "a.png").rename(tmp_path / "png.jpg")
    Image.new("RGB", (3, 2), (1, 2, 3)).save(tmp_path / "a.bmp")
    png, bmp = read_image(tmp_path / "png.jpg"), read_image(tmp_path / "a.bmp")
    assert (png.source_format, png.lossy_compression) == ("PNG", None)
    assert (bmp.source_format, bmp.pixel_spacing) == ("BMP", None)
    assert bmp.pixels[0, 0, 0].tolist() == [1, 2, 3]


def test_is_supported_image(tmp_path):
    Image.new("L", (2, 2)).save(tmp_path / "a.PNG")
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "a.gif").write_bytes((tmp_path / "a.PNG").read_bytes())
    assert is_supported_image(tmp_path / "a.PNG")
    assert is_supported_image(str(tmp_path / "a.PNG"))
    assert not is_supported_image(tmp_path / "text.png")
    assert not is_supported_image(tmp_path / "a.gif")
    assert not is_supported_image(tmp_path / "missing.png")
    assert not is_supported_image(tmp_path)
    assert not is_supported_image(None)


def test_missing_empty_folder_and_non_image(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello, this is not an image")
    assert "does not exist" in _error(tmp_path / "missing.png")
    assert "the file is empty" in _error(tmp_path / "empty.png")
    assert "not a BMP, JPEG, PNG or TIFF image" in _error(tmp_path / "text.png")
    assert "folder" in _error(tmp_path)


@pytest.mark.parametrize("name", ["a.jpg", "a.png", "a.bmp", "a.tif", "z.tif"])
def test_truncated_files(tmp_path, monkeypatch, name):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # someone else's setting
    array = np.random.default_rng(4).integers(0, 256, (64, 64, 3), np.uint8)
    path = tmp_path / name
    if name == "z.tif":
        tifffile.imwrite(path, array, compression="zlib")
    else:
        Image.fromarray(array).save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    message = _error(path)
    assert "truncated" in message
    if name.endswith(".tif"):  # found from the strip offsets, before any decoding
        assert "page 1 ends past the end of the file" in message


def test_multi_page_tiff_cut_before_a_page_is_not_read_short(tmp_path):
    path = tmp_path / "a.tif"
    for value in range(3):
        tifffile.imwrite(path, np.full((4, 6), value, np.uint8), append=True)
    with tifffile.TiffFile(path) as tiff:
        third = tiff.pages[2].offset
    path.write_bytes(path.read_bytes()[: third - 2])
    assert "truncated or damaged" in _error(path)


def test_truncated_tiff_header(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((4, 4), np.uint8))
    (tmp_path / "a.tif").write_bytes((tmp_path / "a.tif").read_bytes()[:12])
    assert "truncated or damaged" in _error(tmp_path / "a.tif")


def test_unsupported_mode(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((4, 4, 3), np.float32), photometric="rgb")
    assert "float32 colour pixels are not supported" in _error(tmp_path / "a.tif")


def test_png_header_claiming_a_huge_image_is_refused_before_decoding(tmp_path):
    _png(tmp_path / "a.png", 100_000, 100_000, 8, 0)
    assert "too large" in _error(tmp_path / "a.png")


@pytest.mark.parametrize("name", ["a.png", "a.jpg", "a.tif"])
def test_limit_is_the_module_constant(tmp_path, monkeypatch, name):
    array = np.zeros((20, 30), np.uint8)
    if name.endswith(".tif"):
        tifffile.imwrite(tmp_path / name, array)
    else:
        Image.fromarray(array).save(tmp_path / name)
    monkeypatch.setattr(imageio, "MAX_PIXELS", 599)
    assert "30 x 20 pixels, the limit is 599 pixels per frame" in _error(tmp_path / name)
    monkeypatch.setattr(imageio, "MAX_PIXELS", 600)
    assert read_image(tmp_path / name).pixels.shape == (1, 20, 30, 1)


def test_stack_limit(tmp_path, monkeypatch):
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((3, 4, 5), np.uint8), photometric="minisblack")
    monkeypatch.setattr(imageio, "MAX_TOTAL_PIXELS", 59)
    assert "3 frames of 5 x 4 pixels" in _error(tmp_path / "a.tif")


def test_pillow_decompression_bomb_warning_is_an_error(tmp_path, monkeypatch):
    Image.new("L", (20, 20)).save(tmp_path / "a.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)  # 400 pixels: a warning, not an error
    assert "too large" in _error(tmp_path / "a.png")
