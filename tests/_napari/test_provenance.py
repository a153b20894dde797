"""The same file through both faces: ``ezp2p convert`` and napari's reader, a layer and
"Send layer to PACS" (``send_layers``) make the same object."""

from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset

from napari_ezp2p import config as ezp2p_config
from napari_ezp2p._napari.sending import LayerSend, send_layers
from napari_ezp2p._napari.session import LayerSnapshot
from napari_ezp2p.cli import main
from napari_ezp2p.core.metadata import Metadata
from tests.conftest import start_storescp
from tests.peers import dciodvfy_errors

PLUGIN = "napari-ezp2p"
STUDY = {"patient_name": "DOE^JANE", "patient_id": "P-11", "series_description": "same"}
OPTIONS = ["--patient-name", "DOE^JANE", "--patient-id", "P-11", "--series-description", "same"]
#: Attributes that differ by design between the two objects, and why.
DIFFERENT_BY_DESIGN = {
    # a layer's contrast limits are the window the viewer shows; a file has none
    "WindowCenter": "the viewer's contrast limits",
    "WindowWidth": "the viewer's contrast limits",
    "VOILUTFunction": "the viewer's contrast limits, mapped exactly",
}
#: Value representations of times (dates, times, date-times): "now" in each face.
TIME_VRS = {"DA", "TM", "DT"}


def _comparable(ds: Dataset) -> dict:
    """Every element but the UIDs of instances, the times and DIFFERENT_BY_DESIGN, with
    sequences compared item by item."""
    values = {}
    for element in ds:
        keyword = element.keyword
        if element.VR in TIME_VRS or keyword in DIFFERENT_BY_DESIGN:
            continue
        if element.VR == "UI" and keyword != "SOPClassUID":
            continue
        if element.VR == "SQ":
            values[keyword] = [_comparable(item) for item in element.value]
        else:
            values[keyword] = element.value
    return values


def _inputs(folder: Path) -> list[Path]:
    film = files("napari_ezp2p") / "samples" / "film-scan.tif"
    photo = files("napari_ezp2p") / "samples" / "colour-photo.jpg"
    ramp = np.linspace(0, 60000, 64 * 80).reshape(64, 80).astype(np.uint16)
    tiff = folder / "tiff16.tif"
    tifffile.imwrite(tiff, ramp, resolution=(300, 300), resolutionunit="INCH")
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[..., 0], rgb[5:, :, 2] = 220, 90
    Image.fromarray(rgb).save(folder / "photo.png")
    return [Path(str(film)), tiff, Path(str(photo)), folder / "photo.png"]


@pytest.fixture
def store(tmp_path, monkeypatch):
    scp = start_storescp(tmp_path / "store")
    path = tmp_path / "config.toml"
    config = ezp2p_config.add_destination(
        ezp2p_config.Config(), "pacs", scp.destination.address, default=True
    )
    ezp2p_config.save_config(config, path)
    monkeypatch.setenv("EZP2P_CONFIG", str(path))
    monkeypatch.setenv("EZP2P_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.delenv("EZP2P_AET", raising=False)
    yield scp
    scp.peer.stop()


def test_a_file_makes_the_same_object_from_napari_as_from_the_command(
    tmp_path, make_napari_viewer, store
):
    viewer = make_napari_viewer()
    for number, path in enumerate(_inputs(tmp_path)):
        out = tmp_path / f"convert-{number}"
        assert main(["convert", str(path), "-o", str(out), *OPTIONS]) == 0
        (converted,) = [dcmread(p) for p in out.iterdir()]
        (layer,) = viewer.open(path, plugin=PLUGIN)
        job = LayerSend(layers=(LayerSnapshot.of(layer),), metadata=Metadata(**STUDY))
        before = set(store.received())
        assert send_layers(job).ok
        (received,) = set(store.received()) - before
        sent = dcmread(received)
        assert dciodvfy_errors(received) == []
        assert sent.file_meta.TransferSyntaxUID == converted.file_meta.TransferSyntaxUID, path
        assert _comparable(sent) == _comparable(converted), path


def test_the_film_scan_and_the_jpeg_keep_their_provenance_from_napari(
    tmp_path, make_napari_viewer, store
):
    film, tiff, photo, _ = _inputs(tmp_path)
    viewer = make_napari_viewer()
    for path in (film, tiff, photo):
        viewer.open(path, plugin=PLUGIN)
    snapshots = tuple(LayerSnapshot.of(layer) for layer in viewer.layers)
    assert send_layers(LayerSend(layers=snapshots, metadata=Metadata(**STUDY))).ok
    received = [dcmread(p) for p in store.received()]
    tiff_ds, film_ds = sorted(
        (ds for ds in received if ds.ConversionType == "DF"), key=lambda ds: ds.Rows
    )
    assert film_ds.Rows > tiff_ds.Rows == 64
    assert [float(v) for v in film_ds.NominalScannedPixelSpacing] == [0.169333] * 2
    assert [float(v) for v in tiff_ds.NominalScannedPixelSpacing] == [0.084667] * 2
    (jpeg,) = [ds for ds in received if ds.ConversionType == "WSD"]
    assert jpeg.LossyImageCompression == "01"
    assert jpeg.LossyImageCompressionMethod == "ISO_10918_1"
    assert float(jpeg.LossyImageCompressionRatio) > 1


def _object(layer) -> Dataset:
    from datetime import datetime

    from napari_ezp2p.core.sc import build_sc, complete_metadata
    from napari_ezp2p.jobs.inputs import SyntaxChoice

    meta = complete_metadata(Metadata(**layer.overrides), datetime.now())
    return build_sc(layer.image, meta, SyntaxChoice().for_image(layer.image))


def test_a_multiscale_layer_is_sent_at_its_full_resolution():
    from napari.layers import Image as ImageLayer

    levels = [np.full((size, size), 7, np.uint8) for size in (256, 128, 64)]
    layer = ImageLayer(levels, multiscale=True)
    assert LayerSnapshot.of(layer).image().image.shape == (1, 256, 256, 1)


def test_a_float_window_narrower_than_one_unit_is_kept_exact(tmp_path):
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    from napari_ezp2p._napari.session import layer_image

    data = np.linspace(0, 0.01, 64 * 64, dtype=np.float32).reshape(64, 64)
    layer = layer_image(data, rgb=False, contrast_limits=(0.004, 0.006))
    assert layer.window == pytest.approx((0.005, 0.002))
    ds = _object(layer)
    assert ds.VOILUTFunction == "LINEAR_EXACT"
    assert float(ds.WindowWidth) == pytest.approx(0.002)
    shown = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds)
    assert len(np.unique(shown)) > 100  # a ramp, not two grey levels
    ds.save_as(tmp_path / "float.dcm", enforce_file_format=True)
    assert dciodvfy_errors(tmp_path / "float.dcm") == []


def test_an_integer_window_of_one_unit_or_more_stays_linear():
    from napari_ezp2p._napari.session import layer_image

    layer = layer_image(np.zeros((8, 8), np.uint16), rgb=False, contrast_limits=(100, 300))
    assert layer.window == (200, 200) and "voi_lut_function" not in layer.overrides
    assert "VOILUTFunction" not in _object(layer)


@pytest.mark.parametrize(
    ("units", "conversion", "written"),
    [
        (("mm", "mm"), "DF", [0.2, 0.25]),
        (("micrometer", "micrometer"), "SD", [0.2, 0.25]),
        (("pixel", "pixel"), "DF", None),  # not lengths: no spacing
        (("mm", "mm"), "WSD", None),  # the IOD has no attribute for it
    ],
)
def test_a_layer_scale_in_lengths_is_the_nominal_scanned_pixel_spacing(
    units, conversion, written, caplog
):
    from napari.layers import Image as ImageLayer

    from napari_ezp2p._napari import sending

    scale = (0.2, 0.25) if units[0] != "micrometer" else (200, 250)
    metadata = {"source_image": {"conversion_type": conversion}}
    layer = ImageLayer(np.zeros((8, 8), np.uint16), scale=scale, units=units, metadata=metadata)
    snapshot = LayerSnapshot.of(layer)
    ds = _object(snapshot.image())
    spacing = ds.get("NominalScannedPixelSpacing")
    assert (None if spacing is None else [float(v) for v in spacing]) == written
    sending._item(snapshot, named=False, conversion_type="")
    noted = [r.getMessage() for r in caplog.records if "is not written" in r.getMessage()]
    assert bool(noted) == (written is None), noted


def test_a_jpeg_layer_passes_its_bitstream_through_only_while_its_pixels_are_the_files():
    from napari_ezp2p._napari.reader import read_layers
    from napari_ezp2p._napari.session import layer_image

    photo = Path(str(files("napari_ezp2p") / "samples" / "colour-photo.jpg"))
    ((data, attributes, _),) = read_layers(photo)
    metadata = attributes["metadata"]
    unchanged = layer_image(data, rgb=True, metadata=metadata)
    assert unchanged.image.jpeg_bitstream is not None
    edited = data.copy()
    edited[0, 0] ^= 1
    changed = layer_image(edited, rgb=True, metadata=metadata).image
    assert changed.jpeg_bitstream is None
    assert changed.lossy_compression == unchanged.image.lossy_compression
    assert changed.lossy_compression[0] == "ISO_10918_1"


def test_naparis_default_scale_is_no_spacing_and_no_note(caplog):
    from napari.layers import Image as ImageLayer

    from napari_ezp2p._napari import sending

    snapshot = LayerSnapshot.of(ImageLayer(np.zeros((8, 8), np.uint8)))
    assert snapshot.image().image.pixel_spacing is None
    sending._item(snapshot, named=False, conversion_type="")
    assert not [r for r in caplog.records if "is not written" in r.getMessage()]
