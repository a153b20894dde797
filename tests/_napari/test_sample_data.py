"""The sample data commands return napari LayerData without needing a viewer."""

from importlib.resources import as_file, files

import numpy as np
import tifffile
from PIL import Image, JpegImagePlugin

from napari_ezp2p._napari.sample_data import colour_photo, film_scan


def test_film_scan_is_a_12_bit_grey_image_with_contrast_from_the_data():
    [(data, attributes, layer_type)] = film_scan()

    assert layer_type == "image"
    assert data.dtype == np.uint16
    assert data.ndim == 2
    assert 1000 <= data.shape[0] <= 1400 and 900 <= data.shape[1] <= 1200
    assert int(data.max()) <= 4095
    assert attributes["contrast_limits"] == [int(data.min()), int(data.max())]
    assert attributes["contrast_limits"][1] < 65535
    assert attributes["colormap"] == "gray"
    assert not attributes.get("rgb", False)


def test_film_scan_has_structure():
    [(data, _, _)] = film_scan()

    # not flat: the phantom spans most of the 12-bit range, with many distinct values
    low, high = np.percentile(data, [1, 99])
    assert high - low > 2500
    assert np.unique(data).size > 1000


def test_colour_photo_is_an_8_bit_rgb_image():
    [(data, attributes, layer_type)] = colour_photo()

    assert layer_type == "image"
    assert data.dtype == np.uint8
    assert data.shape == (512, 512, 3)
    assert attributes["rgb"] is True
    # a photograph, not a grey image stored as colour
    assert np.abs(data[..., 0].astype(int) - data[..., 2]).mean() > 5


def test_sample_files_are_what_make_samples_promises():
    samples = files("napari_ezp2p") / "samples"
    with as_file(samples / "film-scan.tif") as path, tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        assert page.resolutionunit == tifffile.RESUNIT.INCH
        assert page.resolution == (150.0, 150.0)
        assert page.dtype == np.uint16 and page.samplesperpixel == 1
        assert path.stat().st_size < 1_500_000
    with as_file(samples / "colour-photo.jpg") as path, Image.open(path) as jpeg:
        assert jpeg.format == "JPEG" and jpeg.mode == "RGB"
        assert "progressive" not in jpeg.info
        assert jpeg.info["jfif_density"] == (96, 96) and jpeg.info["jfif_unit"] == 1
        assert JpegImagePlugin.get_sampling(jpeg) == 2  # 4:2:0
