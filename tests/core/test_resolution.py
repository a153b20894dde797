"""Pixel spacing and the suggested Conversion Type from the resolution a file records."""

from __future__ import annotations

from datetime import datetime
from importlib.resources import as_file, files

import numpy as np
import pytest
import tifffile
from PIL import Image
from pydicom import dcmread

from napari_ezp2p.core.convert import write_atomically
from napari_ezp2p.core.errors import ConversionError
from napari_ezp2p.core.imageio import read_image
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.sc import build_sc, complete_metadata
from napari_ezp2p.core.transfer import transfer_syntax
from tests.peers import dciodvfy_errors

NOW = datetime(2026, 12, 2, 9, 30)
PAGES16 = np.arange(4 * 20 * 30, dtype=np.uint16).reshape(4, 20, 30) * 20


def _written(image, tmp_path, **meta):
    """``image`` as a Secondary Capture file that dciodvfy finds no error in, read back."""
    ds = build_sc(image, complete_metadata(Metadata(**meta), NOW), transfer_syntax("explicit-le"))
    path = write_atomically(ds, tmp_path / "out.dcm")
    assert dciodvfy_errors(path) == []
    return dcmread(path)


def test_tiff_spacing_from_dpi(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((4, 4), np.uint8), resolution=(300, 300))
    spacing = read_image(tmp_path / "a.tif").pixel_spacing
    assert spacing == pytest.approx((0.0847, 0.0847), abs=1e-4)


def test_tiff_without_a_unit_has_no_spacing(tmp_path):
    tifffile.imwrite(
        tmp_path / "a.tif", np.zeros((4, 4), np.uint8), resolution=(300, 300),
        resolutionunit="NONE",
    )  # fmt: skip
    assert read_image(tmp_path / "a.tif").pixel_spacing is None


def test_png_phys_spacing_rows_from_y(tmp_path):
    Image.new("L", (4, 4)).save(tmp_path / "a.png", dpi=(254, 127))
    assert read_image(tmp_path / "a.png").pixel_spacing == pytest.approx((0.2, 0.1), rel=1e-3)
    Image.new("L", (4, 4)).save(tmp_path / "b.png")
    assert read_image(tmp_path / "b.png").pixel_spacing is None


def test_jpeg_jfif_density(tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "dpi.jpg", dpi=(300, 150))
    assert read_image(tmp_path / "dpi.jpg").pixel_spacing == pytest.approx(
        (25.4 / 150, 25.4 / 300)
    )
    Image.new("L", (8, 8)).save(tmp_path / "aspect.jpg")
    assert read_image(tmp_path / "aspect.jpg").pixel_spacing is None
    data = bytearray((tmp_path / "dpi.jpg").read_bytes())
    assert data[6:11] == b"JFIF\x00"
    data[13:18] = b"\x02\x00\x64\x00\x32"  # dots per cm: 100 across, 50 down
    (tmp_path / "dpcm.jpg").write_bytes(data)
    assert read_image(tmp_path / "dpcm.jpg").pixel_spacing == pytest.approx((0.2, 0.1))


def test_tiff_saved_by_pillow_without_resolution_has_no_spacing(tmp_path):
    Image.new("L", (4, 4)).save(tmp_path / "a.tif")
    Image.fromarray(PAGES16[0]).save(tmp_path / "b.tif")
    assert read_image(tmp_path / "a.tif").pixel_spacing is None
    assert read_image(tmp_path / "b.tif").pixel_spacing is None


# --- conversion type --------------------------------------------------------------------


def test_multi_page_16_bit_tiff_without_resolution_converts_as_wsd(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", PAGES16, photometric="minisblack")
    image = read_image(tmp_path / "a.tif")
    assert (image.frames, image.conversion_type, image.pixel_spacing) == (4, "WSD", None)
    ds = _written(image, tmp_path)
    assert (ds.ConversionType, ds.NumberOfFrames) == ("WSD", 4)
    assert "NominalScannedPixelSpacing" not in ds


def test_16_bit_grey_without_resolution_is_wsd(tmp_path):
    Image.fromarray(PAGES16[0]).save(tmp_path / "a.png")
    Image.fromarray(PAGES16[0]).save(tmp_path / "a.tif")
    for name in ("a.png", "a.tif"):
        assert read_image(tmp_path / name).conversion_type == "WSD"


def test_16_bit_tiff_at_300_dpi_is_film(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", PAGES16, photometric="minisblack", resolution=(300, 300))
    image = read_image(tmp_path / "a.tif")
    assert image.conversion_type == "DF"
    ds = _written(image, tmp_path)
    assert ds.ConversionType == "DF"
    assert [float(v) for v in ds.NominalScannedPixelSpacing] == [0.084667, 0.084667]


def test_film_scan_sample_is_film_with_its_spacing(tmp_path):
    with as_file(files("napari_ezp2p") / "samples" / "film-scan.tif") as path:
        image = read_image(path)
    assert image.conversion_type == "DF"
    ds = _written(image, tmp_path)
    assert ds.ConversionType == "DF"
    assert [float(v) for v in ds.NominalScannedPixelSpacing] == [0.169333, 0.169333]


def test_film_said_by_the_user_without_a_resolution_needs_the_spacing(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", PAGES16, photometric="minisblack")
    image = read_image(tmp_path / "a.tif")
    with pytest.raises(ConversionError, match="needs the scan resolution"):
        _written(image, tmp_path, conversion_type="DF")
    ds = _written(image, tmp_path, conversion_type="DF", pixel_spacing=(0.1, 0.1))
    assert [float(v) for v in ds.NominalScannedPixelSpacing] == [0.1, 0.1]
