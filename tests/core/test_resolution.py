"""Pixel spacing from the resolution a file records, on files written with Pillow and tifffile."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_ezp2p.core.imageio import read_image

PAGES16 = np.arange(4 * 20 * 30, dtype=np.uint16).reshape(4, 20, 30) * 20


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
