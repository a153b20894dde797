"""Burned In Annotation: YES unless the source knows better or the user says NO."""

from datetime import datetime

import numpy as np
import pytest
from PIL import Image
from pydicom import Dataset

from napari_ezp2p.core.convert import write_atomically
from napari_ezp2p.core.image import SourceImage, image_from_array
from napari_ezp2p.core.imageio import read_image
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.pdf import build_encapsulated_pdf
from napari_ezp2p.core.sc import build_sc, complete_metadata
from napari_ezp2p.core.transfer import transfer_syntax
from tests.peers import dciodvfy_errors

NOW = datetime(2026, 11, 29, 15, 30, 12)
PDF = b"%PDF-1.4\n%%EOF\n"


def _burned_in(image: SourceImage, tmp_path, **fields) -> str:
    meta = complete_metadata(Metadata(**fields), NOW)
    ds = build_sc(image, meta, transfer_syntax("explicit-le"), now=NOW)
    path = write_atomically(ds, tmp_path / "x.dcm")
    assert dciodvfy_errors(path) == []
    return ds.BurnedInAnnotation


@pytest.fixture
def files(tmp_path):
    """A photo, a screenshot and a 16-bit film scan, as files of unknown making."""
    rng = np.random.default_rng(5)
    photo, screenshot, film = tmp_path / "a.jpg", tmp_path / "b.png", tmp_path / "c.tif"
    Image.fromarray(rng.integers(0, 255, (16, 24, 3), dtype=np.uint8)).save(photo)
    Image.fromarray(rng.integers(0, 255, (16, 24, 4), dtype=np.uint8)).save(screenshot)
    Image.fromarray(rng.integers(0, 4095, (16, 24), dtype=np.uint16)).save(film, dpi=(150, 150))
    return [photo, screenshot, film]


def test_an_image_file_may_show_text_so_it_is_yes(tmp_path, files):
    # A photo of a screen, a screenshot, a film with its ID flash: we cannot know.
    for path in files:
        image = read_image(path)
        assert image.burned_in_annotation is True, path.name
        assert _burned_in(image, tmp_path) == "YES", path.name


def test_a_layer_s_array_is_yes_until_the_user_says_no(tmp_path):
    # A layer may hold a photo, a screenshot or a video frame opened in napari.
    image, _ = image_from_array(np.zeros((8, 8), np.float32), rgb=False)
    assert _burned_in(image, tmp_path) == "YES"
    assert _burned_in(image, tmp_path, burned_in_annotation=False) == "NO"


def test_a_source_that_knows_says_no_and_the_user_still_wins(tmp_path):
    clean = SourceImage.from_array(np.zeros((8, 8), np.uint8), burned_in_annotation=False)
    assert _burned_in(clean, tmp_path) == "NO"
    assert _burned_in(clean, tmp_path, burned_in_annotation=True) == "YES"


def test_a_pdf_is_text_about_the_patient(tmp_path):
    assert build_encapsulated_pdf(PDF, Metadata(), now=NOW).BurnedInAnnotation == "YES"
    meta = Metadata(burned_in_annotation=False)
    assert build_encapsulated_pdf(PDF, meta, now=NOW).BurnedInAnnotation == "NO"


def test_rendered_pdf_pages_are_yes(tmp_path):
    from napari_ezp2p.capture.pdf import render_pages

    path = tmp_path / "doc.pdf"
    Image.new("RGB", (40, 30), "white").save(path)
    assert render_pages(path, dpi=36).burned_in_annotation is True


def test_our_reader_keeps_a_dicom_file_s_claim():
    from napari_ezp2p._napari.reader import _metadata_fields

    ds = Dataset()
    ds.PatientID = "P1"
    ds.BurnedInAnnotation = "YES"
    assert _metadata_fields(ds)["burned_in_annotation"] is True
    ds.BurnedInAnnotation = "NO"
    assert _metadata_fields(ds)["burned_in_annotation"] is False
    del ds.BurnedInAnnotation
    assert _metadata_fields(ds)["burned_in_annotation"] is None  # the source's default
