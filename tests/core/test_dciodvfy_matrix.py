"""The dciodvfy matrix: every kind of object we make, in every transfer syntax we offer,
with and without a body part, has no dciodvfy Error and no lossy-method warning.

A combination a syntax cannot carry is refused with the error we give for it instead.
Objects in a lossy syntax are also transcoded, as the sender does for a peer that
prefers another syntax, into every lossless one.
"""

from __future__ import annotations

import io
from datetime import datetime

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread

from napari_ezp2p.core.convert import write_atomically
from napari_ezp2p.core.errors import ConversionError
from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.imageio import read_image
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.pdf import build_encapsulated_pdf
from napari_ezp2p.core.sc import build_sc, complete_metadata
from napari_ezp2p.core.transfer import TRANSFER_SYNTAXES, transfer_syntax
from napari_ezp2p.net.transcode import transcode
from tests.peers import dciodvfy_findings

NOW = datetime(2026, 12, 1, 9, 30, 0)
ROWS, COLUMNS = 48, 64

#: Body Part Examined and Laterality: none (Laterality empty), an unpaired part (Laterality
#: left out), and a paired one with its side (dciodvfy's Type 2C check).
BODY_PARTS = ["", "CHEST", "HAND^L"]

_LOSSY_METHODS = {
    "jpeg-baseline": "ISO_10918_1",
    "jpeg-extended": "ISO_10918_1",
    "jpeg-ls-near": "ISO_14495_1",
    "j2k": "ISO_15444_1",
}
_rng = np.random.default_rng(11)


def _smooth(frames: int, maximum: int, dtype, colour: bool = False) -> np.ndarray:
    """A gradient with some noise: compresses like a real image, exercises every bit."""
    base = np.add.outer(np.linspace(0, 1, ROWS), np.linspace(0, 1, COLUMNS)) / 2
    grey = np.clip(base + _rng.normal(0, 0.03, (frames, ROWS, COLUMNS)), 0, 1) * maximum
    if colour:
        grey = np.stack([grey, grey[..., ::-1], np.flip(grey, -2)], axis=-1)
    return grey.round().astype(dtype).squeeze(0) if frames == 1 else grey.round().astype(dtype)


def _jpeg_file(folder, name: str, **options) -> SourceImage:
    """A colour JPEG file read as the CLI reads it (its lossy history, maybe its bytes)."""
    buffer = io.BytesIO()
    Image.fromarray(_smooth(1, 255, np.uint8, colour=True)).save(
        buffer, "JPEG", quality=85, **options
    )
    path = folder / f"{name}.jpg"
    path.write_bytes(buffer.getvalue())
    return read_image(path)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, SourceImage]:
    folder = tmp_path_factory.mktemp("sources")
    return {
        "grey8": SourceImage.from_array(_smooth(1, 255, np.uint8)),
        "film16": SourceImage.from_array(
            _smooth(1, 65535, np.uint16), conversion_type="DF", pixel_spacing=(0.169333, 0.169333)
        ),
        "rgb8": SourceImage.from_array(_smooth(1, 255, np.uint8, colour=True)),
        "frames8": SourceImage.from_array(_smooth(3, 255, np.uint8)),
        "frames16": SourceImage.from_array(_smooth(3, 4095, np.uint16)),
        "frames-rgb": SourceImage.from_array(_smooth(2, 255, np.uint8, colour=True), rgb=True),
        "jpeg-photo": _jpeg_file(folder, "photo"),  # baseline: goes as it is in JPEG syntaxes
        "jpeg-progressive": _jpeg_file(folder, "progressive", progressive=True),  # decoded
        "scan-sd": SourceImage.from_array(
            _smooth(2, 255, np.uint8), conversion_type="SD", pixel_spacing=(0.2, 0.2)
        ),
        "clip-dv": SourceImage.from_array(
            _smooth(3, 255, np.uint8, colour=True),
            rgb=True,
            conversion_type="DV",
            lossy_compression=("ISO_14496_10", 48.0),  # an H.264 recording
        ),
    }


def _meta(body_part: str, colour: bool) -> Metadata:
    body_part, _, laterality = body_part.partition("^")
    meta = Metadata(
        patient_name="MATRIX^TEST",
        birth_date="19700101",
        sex="O",
        body_part=body_part,
        laterality=laterality,
        window=None if colour else (2048.0, 4096.0),
    )
    return complete_metadata(meta, NOW)


def _refusal(image: SourceImage, key: str) -> str | None:
    """The error we give for ``image`` in ``key``, or None when the syntax carries it."""
    if key == "jpeg-baseline" and image.bits_stored > 8:
        return "carries 8-bit data only"
    if key == "jpeg-extended" and image.bits_stored > 12:
        return "carries at most 12 bits"
    ts = transfer_syntax(key)
    if image.lossy_compression and not ts.lossless and ts.encapsulated:
        method = image.lossy_compression[0]
        jpeg_syntax = key in ("jpeg-baseline", "jpeg-extended")
        if not (method == "ISO_10918_1" and jpeg_syntax):
            as_it_is = ", or jpeg-baseline, which carries the JPEG as it is"
            return f"already lossy compressed \\({method}\\).*choose .*" + (
                as_it_is if image.jpeg_bitstream else ""
            )
    return None


@pytest.mark.parametrize("body_part", BODY_PARTS)
@pytest.mark.parametrize("key", [ts.key for ts in TRANSFER_SYNTAXES])
@pytest.mark.parametrize(
    "kind",
    [
        "grey8",
        "film16",
        "rgb8",
        "frames8",
        "frames16",
        "frames-rgb",
        "jpeg-photo",
        "jpeg-progressive",
        "scan-sd",
        "clip-dv",
    ],
)
def test_every_image_kind_in_every_syntax(images, kind, key, body_part, tmp_path):
    image, ts = images[kind], transfer_syntax(key)
    meta = _meta(body_part, image.is_colour)
    refusal = _refusal(image, key)
    if refusal:
        with pytest.raises(ConversionError, match=refusal):
            build_sc(image, meta, ts, now=NOW)
        return
    ds = build_sc(image, meta, ts, now=NOW)
    path = write_atomically(ds, tmp_path / "object.dcm")
    assert dciodvfy_findings(path) == []

    back = dcmread(path, stop_before_pixels=True)
    assert back.file_meta.TransferSyntaxUID == ts.uid
    lossy = bool(image.lossy_compression) or not ts.lossless
    assert back.get("LossyImageCompression") == ("01" if lossy else None)
    if not lossy:
        return
    history = [image.lossy_compression[0]] if image.lossy_compression else []
    passes_through = kind == "jpeg-photo" and key in ("jpeg-baseline", "jpeg-extended")
    if not ts.lossless and not passes_through:
        history.append(_LOSSY_METHODS[key])
    assert list(np.atleast_1d(back.LossyImageCompressionMethod)) == history
    assert len(np.atleast_1d(back.LossyImageCompressionRatio)) == len(history)


_LOSSLESS_TARGETS = [ts for ts in TRANSFER_SYNTAXES if ts.lossless]


@pytest.mark.parametrize("target", [ts.key for ts in _LOSSLESS_TARGETS])
@pytest.mark.parametrize(
    ("kind", "source"),
    [
        ("jpeg-photo", "jpeg-baseline"),
        ("jpeg-photo", "jpeg-extended"),
        ("jpeg-progressive", "jpeg-baseline"),
        ("grey8", "jpeg-ls-near"),
        ("frames16", "j2k"),
        ("rgb8", "j2k"),
    ],
)
def test_lossy_objects_transcoded_for_a_peer(images, kind, source, target, tmp_path):
    image = images[kind]
    ds = build_sc(image, _meta("", image.is_colour), transfer_syntax(source), now=NOW)
    out = transcode(ds, transfer_syntax(target).uid)
    path = tmp_path / "transcoded.dcm"
    out.save_as(path, enforce_file_format=True)
    assert dciodvfy_findings(path) == []
    assert out.LossyImageCompression == "01"
    assert out.LossyImageCompressionMethod == ds.LossyImageCompressionMethod
    assert out.LossyImageCompressionRatio == ds.LossyImageCompressionRatio


@pytest.mark.parametrize("body_part", BODY_PARTS)
def test_encapsulated_pdf(body_part, tmp_path):
    buffer = io.BytesIO()
    Image.new("L", (200, 100), 255).save(buffer, format="PDF", resolution=72)
    body_part, _, laterality = body_part.partition("^")
    meta = Metadata(patient_name="MATRIX^TEST", body_part=body_part, laterality=laterality)
    ds = build_encapsulated_pdf(buffer.getvalue(), meta, document_title="Letter", now=NOW)
    path = write_atomically(ds, tmp_path / "document.dcm")
    assert dciodvfy_findings(path) == []
