"""TIFF page lists that loop or go past the bounds: refused quickly, with the cause."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_ezp2p.core import tiffpages
from napari_ezp2p.core.errors import ImageReadError
from napari_ezp2p.core.imageio import read_image


def looping_tiff(path: Path) -> Path:
    """A little-endian TIFF of two 2x2 grey pages whose page list goes A -> B -> A."""

    def page(next_page: int) -> bytes:
        tags = [  # (tag, SHORT or LONG, count, value)
            (256, 3, 1, 2),  # ImageWidth
            (257, 3, 1, 2),  # ImageLength
            (262, 3, 1, 1),  # PhotometricInterpretation: MinIsBlack
            (273, 4, 1, 8),  # StripOffsets: the pixels right after the header
            (278, 3, 1, 2),  # RowsPerStrip
            (279, 4, 1, 4),  # StripByteCounts
        ]
        entries = b"".join(struct.pack("<HHII", *tag) for tag in tags)
        return struct.pack("<H", len(tags)) + entries + struct.pack("<I", next_page)

    first = 8 + 4  # header, then the 4 pixel bytes
    second = first + len(page(0))
    header = b"II*\x00" + struct.pack("<I", first)
    path.write_bytes(header + bytes([0, 64, 128, 255]) + page(second) + page(first))
    return path


def test_a_page_list_that_loops_is_refused(tmp_path):
    with pytest.raises(ImageReadError, match="page list loops: page 3 leads back to page 1"):
        read_image(looping_tiff(tmp_path / "loop.tif"))


def test_convert_refuses_the_looping_tiff_at_once_and_goes_on(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(good)
    loop = looping_tiff(tmp_path / "loop.tif")
    ezp2p = Path(sys.executable).parent / "ezp2p"
    result = subprocess.run(
        [str(ezp2p), "convert", str(loop), str(good), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=30,  # it ran for ever, its memory growing without bound
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f"ezp2p: Cannot read {loop}: its page list loops: page 3 leads back to page 1"
    )
    assert (tmp_path / "out" / "good.dcm").exists()


def test_more_pages_than_the_limit_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(tiffpages, "MAX_PAGES", 3)
    for count in (3, 4):
        stack = np.zeros((count, 2, 2), np.uint8)
        tifffile.imwrite(tmp_path / f"{count}.tif", stack, photometric="minisblack")
    assert read_image(tmp_path / "3.tif").pixels.shape == (3, 2, 2, 1)
    with pytest.raises(ImageReadError, match="the TIFF file has more than 3 pages, the limit"):
        read_image(tmp_path / "4.tif")


def test_reading_longer_than_the_limit_is_refused(tmp_path, monkeypatch):
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((2, 2, 2), np.uint8), photometric="minisblack")
    monkeypatch.setattr(tiffpages, "MAX_SECONDS", -1.0)
    with pytest.raises(ImageReadError, match="takes longer than the limit of -1 seconds"):
        read_image(tmp_path / "a.tif")
