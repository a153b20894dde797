import numpy as np
import pytest
from pydicom import dcmread

from napari_ezp2p._napari.writer import write_dicom
from napari_ezp2p.core.image import image_from_array
from tests.peers import dciodvfy_errors


def test_grey_layer_keeps_its_window_and_values(tmp_path):
    data = np.arange(64 * 80, dtype=np.uint16).reshape(64, 80)
    attributes = {"name": "film", "rgb": False, "contrast_limits": [100, 3100], "metadata": {}}
    (written,) = write_dicom(str(tmp_path / "film.dcm"), data, attributes)
    assert dciodvfy_errors(written) == []
    ds = dcmread(written)
    assert np.array_equal(ds.pixel_array, data)
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (1600, 3000)
    assert ds.SeriesDescription == "film"


def test_layer_demographics_come_from_its_metadata(tmp_path):
    study = {"patient_name": "DOE^JANE", "patient_id": "P1", "study_instance_uid": "1.2.3"}
    attributes = {"name": "x", "rgb": True, "metadata": {"ezp2p": study}}
    data = np.zeros((8, 8, 3), np.uint8)
    (written,) = write_dicom(str(tmp_path / "x"), data, attributes)
    ds = dcmread(written)
    assert written.endswith("x.dcm")
    assert (ds.PatientName, ds.PatientID, ds.StudyInstanceUID) == ("DOE^JANE", "P1", "1.2.3")
    assert ds.PhotometricInterpretation == "RGB"


def test_signed_data_is_shifted_with_a_rescale_that_restores_it(tmp_path):
    data = np.array([[-1024, 0], [1000, 3071]], dtype=np.int16)
    (written,) = write_dicom(str(tmp_path / "ct.dcm"), data, {"name": "ct"})
    ds = dcmread(written)
    restored = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert np.array_equal(restored, data)


def test_float_data_is_spread_over_12_bits():
    data = np.linspace(-1.5, 2.5, 100, dtype=np.float32).reshape(10, 10)
    image, (slope, intercept) = image_from_array(data, rgb=False)
    assert image.pixels.dtype == np.uint16 and int(image.pixels.max()) == 4095
    restored = image.pixels[0, ..., 0] * slope + intercept
    assert np.abs(restored - data).max() <= slope / 2 + 1e-6


def test_rgba_is_composited_over_white_and_stacks_become_frames():
    rgba = np.zeros((2, 4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[0, 0, 0, 3] = 255
    image, rescale = image_from_array(rgba, rgb=True)
    assert rescale is None and image.frames == 2
    assert tuple(image.pixels[0, 0, 0]) == (200, 0, 0)
    assert tuple(image.pixels[0, 1, 1]) == (255, 255, 255)
    grey, _ = image_from_array(np.zeros((2, 3, 5, 6), np.uint8), rgb=False)
    assert grey.pixels.shape == (6, 5, 6, 1)


def test_non_finite_data_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        image_from_array(np.array([[np.nan, 1.0]]), rgb=False)


def test_a_4d_layer_is_refused_not_flattened(tmp_path):
    data = np.zeros((3, 5, 8, 8), np.uint8)
    attributes = {"name": "hyper", "rgb": False, "contrast_limits": [0, 255], "metadata": {}}
    with pytest.raises(ValueError, match=r"4D layer .*choose the axis.*Send dock's Slices row"):
        write_dicom(str(tmp_path / "hyper.dcm"), data, attributes)
    assert list(tmp_path.iterdir()) == []


def test_napari_saves_an_image_layer_through_the_manifest(tmp_path, make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.full((16, 20), 1234, np.uint16), name="scan", contrast_limits=(0, 4000))
    written = viewer.layers.save(str(tmp_path / "scan.dcm"), plugin="napari-ezp2p")
    ds = dcmread(written[0])
    assert int(ds.pixel_array[0, 0]) == 1234
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (2000, 4000)


def test_a_multiscale_film_scan_layer_is_written_whole_with_its_spacing(tmp_path):
    levels = [np.full((size, size), 900, np.uint16) for size in (64, 32, 16)]
    attributes = {
        "name": "film",
        "multiscale": True,
        "scale": (0.25, 0.25),
        "units": ("mm", "mm"),
        "metadata": {"source_image": {"conversion_type": "DF"}},
    }
    (written,) = write_dicom(str(tmp_path / "film.dcm"), levels, attributes)
    assert dciodvfy_errors(written) == []
    ds = dcmread(written)
    assert (ds.Rows, ds.Columns, ds.ConversionType) == (64, 64, "DF")
    assert [float(v) for v in ds.NominalScannedPixelSpacing] == [0.25, 0.25]
