"""One series per modality: an image and a PDF of one job go in two series of one study;
an empty Modality is refused before anything is written."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread

from napari_ezp2p.cli import main
from napari_ezp2p.core.errors import ConversionError
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.jobs.convert import convert_inputs
from napari_ezp2p.jobs.inputs import SyntaxChoice
from napari_ezp2p.outbox import Outbox
from tests.peers import dciodvfy_errors

SERIES_UID = "1.2.826.0.1.3680043.8.498.77"


def _inputs(folder):
    folder.mkdir(parents=True, exist_ok=True)
    image, document = folder / "img.png", folder / "doc.pdf"
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 255, (40, 30), dtype=np.uint8)).save(image)
    Image.new("RGB", (200, 100), "white").save(document)
    return image, document


def _assert_two_series(image_ds, document_ds):
    assert (image_ds.Modality, document_ds.Modality) == ("OT", "DOC")
    assert image_ds.SeriesInstanceUID != document_ds.SeriesInstanceUID
    assert (image_ds.SeriesNumber, document_ds.SeriesNumber) == (1, 2)
    assert image_ds.StudyInstanceUID == document_ds.StudyInstanceUID


def test_convert_an_image_and_a_pdf_gives_one_series_per_modality(tmp_path):
    image, document = _inputs(tmp_path / "in")
    out = tmp_path / "out"
    again = tmp_path / "in" / "again.png"
    again.write_bytes(image.read_bytes())
    argv = ["convert", str(image), str(document), str(again), "-o", str(out)]
    assert main(argv) == 0
    image_ds, document_ds = dcmread(out / "img.dcm"), dcmread(out / "doc.dcm")
    _assert_two_series(image_ds, document_ds)
    assert dcmread(out / "again.dcm").SeriesInstanceUID == image_ds.SeriesInstanceUID
    for path in (out / "img.dcm", out / "doc.dcm"):
        assert dciodvfy_errors(path) == []


def test_send_an_image_and_a_pdf_arrive_in_one_series_per_modality(tmp_path, storescp):
    image, document = _inputs(tmp_path / "in")
    home = ["--config", str(tmp_path / "config.toml"), "--outbox", str(tmp_path / "outbox")]
    argv = [*home, "send", str(image), str(document), "--to", storescp.destination.address]
    assert main(argv) == 0
    received = {ds.Modality: ds for ds in map(dcmread, storescp.received())}
    _assert_two_series(received["OT"], received["DOC"])


def test_a_given_series_uid_takes_its_modality_alone(tmp_path, capsys):
    image, document = _inputs(tmp_path / "in")
    out = tmp_path / "out"
    argv = ["convert", str(image), str(document), "-o", str(out), "--series-uid", SERIES_UID]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"SeriesInstanceUID {SERIES_UID} was given for the series of Modality OT" in err
    assert "this DOC object cannot join it" in err
    assert sorted(p.name for p in out.iterdir()) == ["img.dcm"]
    assert dcmread(out / "img.dcm").SeriesInstanceUID == SERIES_UID


def test_an_empty_modality_is_refused_by_convert_before_anything_is_written(tmp_path, capsys):
    image, document = _inputs(tmp_path / "in")
    out = tmp_path / "out"
    assert main(["convert", str(image), str(document), "-o", str(out), "--modality", ""]) == 1
    assert "Modality: empty, but it is required (Type 1)" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ConversionError, match="Modality"):
        next(convert_inputs([image], out, Metadata(modality=""), SyntaxChoice(), datetime.now()))
    assert not out.exists()


def test_an_empty_modality_is_refused_by_send_before_anything_is_queued(
    tmp_path, storescp, capsys
):
    image, document = _inputs(tmp_path / "in")
    home = ["--config", str(tmp_path / "config.toml"), "--outbox", str(tmp_path / "outbox")]
    argv = [*home, "send", str(image), str(document), "--to", storescp.destination.address]
    assert main([*argv, "--modality", ""]) == 1
    assert "Modality: empty, but it is required (Type 1)" in capsys.readouterr().err
    assert storescp.received() == []
    with Outbox(tmp_path / "outbox") as outbox:
        assert outbox.list() == []
        assert list(outbox.instances.iterdir()) == []
