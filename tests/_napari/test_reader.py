from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from pydicom import Dataset, dcmread
from pydicom.pixels import apply_modality_lut

from napari_ezp2p._napari.reader import get_reader, read_layers
from napari_ezp2p.core.convert import convert_images, write_atomically
from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.transfer import transfer_syntax

PLUGIN = "napari-ezp2p"
NAME = "山田^太郎"


def _dicom(path: Path, pixels: np.ndarray, ts: str = "explicit-le", **meta) -> Path:
    image = SourceImage.from_array(pixels, rgb=False, bits_stored=12)
    (ds,) = convert_images([image], Metadata(**meta), transfer_syntax(ts))
    return write_atomically(ds, path)


def _film(rows=40, columns=50) -> np.ndarray:
    ramp = np.linspace(800, 3200, rows * columns).reshape(rows, columns)
    return ramp.astype(np.uint16)


def test_viewer_opens_png_16_bit_and_multi_page_tiff(tmp_path, make_napari_viewer):
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[..., 0], rgb[5:, :, 2] = 220, 90
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    film = _film()
    tifffile.imwrite(tmp_path / "film.tif", film)
    pages = np.stack([np.full((12, 16), value, np.uint8) for value in (10, 120, 240)])
    for page in pages:
        tifffile.imwrite(tmp_path / "pages.tif", page, append=True)
    viewer = make_napari_viewer()

    (photo,) = viewer.open(tmp_path / "photo.png", plugin=PLUGIN)
    assert photo.rgb and photo.name == "photo"
    assert np.array_equal(photo.data, rgb)

    (scan,) = viewer.open(tmp_path / "film.tif", plugin=PLUGIN)
    assert scan.data.dtype == np.uint16 and scan.data.shape == film.shape
    assert not scan.rgb and scan.colormap.name == "gray"
    # The 0.5/99.5 percentiles of the data (napari itself would take 800-3200 here, and
    # the full 0-65535 range for a large image).
    assert scan.contrast_limits == pytest.approx(np.percentile(film, (0.5, 99.5)))

    (stack,) = viewer.open(tmp_path / "pages.tif", plugin=PLUGIN)
    assert stack.data.shape == (3, 12, 16) and not stack.rgb
    assert [int(page[0, 0]) for page in stack.data] == [10, 120, 240]

    noise = np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "good.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes((tmp_path / "good.png").read_bytes()[:2000])
    assert callable(get_reader(str(broken)))  # the signature is right: the reader decides
    with pytest.raises(ValueError, match=r"Cannot read .*broken\.png: the file is truncated"):
        viewer.open(broken, plugin=PLUGIN)
    assert [layer.name for layer in viewer.layers] == ["photo", "film", "pages"]


def test_viewer_opens_our_dicom_with_its_window_and_study(tmp_path, make_napari_viewer):
    path = _dicom(
        tmp_path / "sc.dcm", _film(), patient_name=NAME, patient_id="P7", window=(1500, 1000)
    )
    source = dcmread(path)
    viewer = make_napari_viewer()
    (layer,) = viewer.open(path, plugin=PLUGIN)
    assert layer.data.dtype == np.uint16 and np.array_equal(layer.data, source.pixel_array)
    assert tuple(layer.contrast_limits) == (1000, 2000)
    assert layer.metadata["ezp2p"]["patient_name"] == NAME
    assert layer.metadata["dicom"]["StudyInstanceUID"] == source.StudyInstanceUID
    assert layer.metadata["dicom"]["PatientName"] == NAME

    # Saved again through our writer, the layer keeps its patient, study and series.
    (saved,) = viewer.layers.save(str(tmp_path / "again.dcm"), plugin=PLUGIN)
    again = dcmread(saved)
    assert (again.PatientName, again.PatientID) == (NAME, "P7")
    assert again.StudyInstanceUID == source.StudyInstanceUID
    assert again.SeriesInstanceUID == source.SeriesInstanceUID
    assert (float(again.WindowCenter), float(again.WindowWidth)) == (1500, 1000)


def test_compressed_multi_frame_dicom_is_rescaled_and_keeps_its_frames(tmp_path):
    frames = np.stack([_film(), _film()[::-1]])
    path = _dicom(tmp_path / "ct.dcm", frames, "rle", rescale=(1, -1024), window=(40, 400))
    ((data, attributes, kind),) = read_layers(str(path))
    assert kind == "image" and data.shape == (2, 40, 50)
    assert data.dtype == np.int16 and np.array_equal(data, frames.astype(np.int16) - 1024)
    assert attributes["contrast_limits"] == [-160, 240]


def test_jpeg_colour_dicom_is_read_as_rgb(tmp_path):
    rows, columns = np.mgrid[0:32, 0:48]
    rgb = np.stack([rows * 6, columns * 4, np.full_like(rows, 128)], -1).astype(np.uint8)
    image = SourceImage.from_array(rgb, rgb=True, bits_stored=8)
    (ds,) = convert_images([image], Metadata(patient_name=NAME), transfer_syntax("jpeg-baseline"))
    path = write_atomically(ds, tmp_path / "photo.dcm")
    assert dcmread(path).PhotometricInterpretation.startswith("YBR")
    ((data, attributes, _),) = read_layers(str(path))
    assert attributes["rgb"] and data.shape == (32, 48, 3)
    assert np.abs(data.astype(int) - rgb).mean() < 4  # RGB again, not YBR
    assert attributes["metadata"]["ezp2p"]["patient_name"] == NAME


def test_monochrome1_is_inverted_for_display(tmp_path):
    path = _dicom(tmp_path / "m1.dcm", _film(), window=(1000, 400))
    ds = dcmread(path)
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.save_as(path, enforce_file_format=True)
    ((data, attributes, _),) = read_layers(str(path))
    assert np.array_equal(data, 4095 - _film())  # 12 bits stored
    assert attributes["contrast_limits"] == [4095 - 1200, 4095 - 800]


def _with_modality_lut(path: Path, lut: np.ndarray, photometric: str = "MONOCHROME2") -> Path:
    """The file at ``path`` with a Modality LUT Sequence (12-bit in, 16-bit out) for
    its rescale."""
    ds = dcmread(path)
    for keyword in ("RescaleSlope", "RescaleIntercept", "RescaleType"):
        if keyword in ds:
            delattr(ds, keyword)
    item = Dataset()
    item.LUTDescriptor = [len(lut), 0, 16]
    item.ModalityLUTType = "OD"
    item.add_new("LUTData", "US", lut.tolist())
    ds.ModalityLUTSequence = [item]
    ds.PhotometricInterpretation = photometric
    ds.save_as(path, enforce_file_format=True)
    return path


def test_a_modality_lut_sequence_is_applied_as_pydicom_applies_it(tmp_path):
    lut = (np.arange(4096, dtype=np.uint32) ** 2 // 256).astype(np.uint16)  # not linear
    path = _with_modality_lut(_dicom(tmp_path / "lut.dcm", _film(), window=(20000, 20000)), lut)
    ((data, attributes, _),) = read_layers(str(path))
    ds = dcmread(path)
    assert np.array_equal(data, lut[_film()])
    assert np.array_equal(data, apply_modality_lut(ds.pixel_array, ds))
    assert attributes["contrast_limits"] == [10000, 30000]  # the window, in LUT output values

    inverse = _with_modality_lut(
        _dicom(tmp_path / "m1.dcm", _film(), window=(20000, 20000)), lut, "MONOCHROME1"
    )
    ((data, attributes, _),) = read_layers(str(inverse))
    assert np.array_equal(data, 65535 - lut[_film()].astype(int))  # inverted after the LUT
    assert attributes["contrast_limits"] == [65535 - 30000, 65535 - 10000]


def test_get_reader_accepts_what_it_reads_and_declines_the_rest(tmp_path):
    Image.new("L", (4, 4)).save(tmp_path / "a.png")
    dicom = _dicom(tmp_path / "b.dcm", _film())
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "empty.tif").write_bytes(b"")
    (tmp_path / "plain.dcm").write_bytes(b"\0" * 200)  # no DICM marker
    (tmp_path / "folder.png").mkdir()

    assert callable(get_reader(str(tmp_path / "a.png")))
    assert callable(get_reader(str(dicom)))
    assert callable(get_reader([str(tmp_path / "a.png"), str(dicom)]))
    for bad in ("text.png", "empty.tif", "plain.dcm", "folder.png", "missing.png"):
        assert get_reader(str(tmp_path / bad)) is None, bad
    assert get_reader([str(tmp_path / "a.png"), str(tmp_path / "text.png")]) is None
    assert get_reader([]) is None
    assert get_reader("\0bad") is None
    assert get_reader(None) is None


# --------------------------------------------------------------------------- video, PDF


def _video(path: Path, frames: int, codec: str = "ffv1", pix_fmt: str = "bgr0") -> Path:
    """A 64 x 48 video at 25 frames/s whose frame n is filled with grey 20 * n."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        for number in range(frames):
            rgb = np.full((48, 64, 3), 20 * number, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    return path


def _two_page_pdf(path: Path) -> Path:
    """An A6-ish first page (red) and a smaller second one (blue), at 72 dpi."""
    first = Image.new("RGB", (298, 420), (220, 30, 30))
    second = Image.new("RGB", (200, 100), (30, 30, 220))
    first.save(path, save_all=True, append_images=[second], resolution=72.0)
    return path


def test_viewer_opens_a_video_as_a_time_stack_that_saves_as_multi_frame_sc(
    tmp_path, make_napari_viewer
):
    path = _video(tmp_path / "clip.mkv", 6)
    assert callable(get_reader(str(path)))
    viewer = make_napari_viewer()
    (layer,) = viewer.open(path, plugin=PLUGIN)
    assert layer.rgb and layer.name == "clip"
    assert layer.data.shape == (6, 48, 64, 3) and layer.data.dtype == np.uint8
    assert [int(frame[0, 0, 0]) for frame in layer.data] == [0, 20, 40, 60, 80, 100]
    fields = layer.metadata["ezp2p"]
    assert fields["conversion_type"] == "DV"
    assert fields["frame_time_ms"] == pytest.approx(40)
    assert viewer.dims.nsteps[0] == 6  # a time axis to scroll

    (saved,) = viewer.layers.save(str(tmp_path / "clip.dcm"), plugin=PLUGIN)
    ds = dcmread(saved)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7.4"  # multi-frame true colour SC
    assert int(ds.NumberOfFrames) == 6 and ds.ConversionType == "DV"
    assert float(ds.FrameTime) == pytest.approx(40) and int(ds.CineRate) == 25
    assert np.array_equal(ds.pixel_array, layer.data)


def test_a_lossy_mp4_reads_too_and_a_video_over_the_limit_is_refused(tmp_path, monkeypatch):
    path = _video(tmp_path / "clip.mp4", 4, "mpeg4", "yuv420p")
    ((data, attributes, kind),) = read_layers(str(path))
    assert kind == "image" and attributes["rgb"] and data.shape == (4, 48, 64, 3)
    assert attributes["metadata"]["ezp2p"]["frame_time_ms"] == pytest.approx(40)

    monkeypatch.setattr("napari_ezp2p._napari.reader.MAX_VIDEO_BYTES", 3 * 64 * 48 * 3)
    with pytest.raises(ValueError, match=r"Cannot read .*clip\.mp4: .*over the limit"):
        read_layers(str(path))


def test_viewer_opens_a_pdf_as_a_stack_of_pages(tmp_path, make_napari_viewer):
    path = _two_page_pdf(tmp_path / "letter.pdf")
    assert callable(get_reader(str(path)))
    viewer = make_napari_viewer()
    (layer,) = viewer.open(path, plugin=PLUGIN)
    assert layer.rgb and layer.name == "letter" and layer.data.dtype == np.uint8
    # 298 x 420 pt at 100 dpi, the smaller page padded on white.
    assert layer.data.shape == (2, 584, 414, 3)
    pixel = lambda *index: [int(v) for v in layer.data[index]]  # noqa: E731
    assert pixel(0, 100, 100) == pytest.approx([220, 30, 30], abs=3)
    assert pixel(1, 50, 50) == pytest.approx([30, 30, 220], abs=3)
    assert pixel(1, 500, 400) == [255, 255, 255]
    fields = layer.metadata["ezp2p"]
    assert fields["conversion_type"] == "SD"
    assert fields["pixel_spacing"] == pytest.approx((0.254, 0.254))

    (saved,) = viewer.layers.save(str(tmp_path / "letter.dcm"), plugin=PLUGIN)
    ds = dcmread(saved)
    assert int(ds.NumberOfFrames) == 2 and ds.ConversionType == "SD"
    assert [float(v) for v in ds.NominalScannedPixelSpacing] == [0.254, 0.254]


def test_get_reader_takes_videos_and_pdfs_by_their_signature_without_reading_them(
    tmp_path, monkeypatch
):
    video = _video(tmp_path / "clip.mkv", 2)
    disguised = tmp_path / "clip.bin"
    disguised.write_bytes(video.read_bytes())
    (tmp_path / "notes.mp4").write_text("not a video\n" * 40)
    (tmp_path / "notes.pdf").write_text("not a PDF either\n")
    (tmp_path / "damaged.pdf").write_bytes(b"%PDF-1.4\n" + b"\0" * 100)

    def never(*args, **kwargs):
        raise AssertionError("get_reader decoded or rendered the file")

    monkeypatch.setattr("napari_ezp2p.capture.clip.read_video", never)
    monkeypatch.setattr("napari_ezp2p.capture.video.VideoSource", never)
    monkeypatch.setattr("napari_ezp2p.capture.pdf.render_pages", never)
    for good in (video, disguised, tmp_path / "damaged.pdf"):
        assert callable(get_reader(str(good))), good.name
    for bad in ("notes.mp4", "notes.pdf", "missing.mkv"):
        assert get_reader(str(tmp_path / bad)) is None, bad
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"damaged\.pdf"):
        read_layers(str(tmp_path / "damaged.pdf"))


def test_manifest_reader_patterns_cover_videos_and_pdfs():
    from npe2 import PluginManager

    from napari_ezp2p.capture.video import VIDEO_SUFFIXES

    manifest = PluginManager.instance().get_manifest(PLUGIN)
    (reader,) = manifest.contributions.readers
    patterns = set(reader.filename_patterns)
    assert {f"*{suffix}" for suffix in VIDEO_SUFFIXES} | {"*.pdf"} <= patterns
