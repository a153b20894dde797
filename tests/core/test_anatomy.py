"""Laterality (Type 2C) by body part, checked against dciodvfy on this machine."""

import dataclasses
from datetime import datetime

import numpy as np
import pytest
from pydicom import Dataset

from napari_ezp2p.core.anatomy import PAIRED_BODY_PARTS, is_paired
from napari_ezp2p.core.convert import write_atomically
from napari_ezp2p.core.errors import ConversionError
from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.pdf import build_encapsulated_pdf
from napari_ezp2p.core.sc import build_sc, complete_metadata
from napari_ezp2p.core.transfer import transfer_syntax
from napari_ezp2p.jobs.study import metadata_from_match
from tests.peers import dciodvfy_errors

NOW = datetime(2026, 11, 29, 15, 30, 12)
IMAGE = SourceImage.from_array(np.zeros((8, 8), np.uint8))
MISSING = "Missing attribute Type 2C Conditional Element=<Laterality>"
UNPAIRED = ("CHEST", "ABDOMEN", "HEAD", "SKULL", "PELVIS", "NECK", "HEART", "CSPINE")


def _object(tmp_path, **fields):
    meta = complete_metadata(Metadata(**fields), NOW)
    ds = build_sc(IMAGE, meta, transfer_syntax("explicit-le"), now=NOW)
    return ds, write_atomically(ds, tmp_path / "x.dcm")


@pytest.mark.parametrize("body_part", sorted(PAIRED_BODY_PARTS))
def test_a_paired_body_part_needs_laterality_and_carries_it(tmp_path, body_part):
    # Without it dciodvfy says the Error we guard against; empty (unknown), R or L: none.
    ds, path = _object(tmp_path, body_part=body_part)
    assert ds.Laterality == ""
    assert dciodvfy_errors(path) == []
    del ds.Laterality
    bare = write_atomically(ds, tmp_path / "bare.dcm")
    assert any(MISSING in line for line in dciodvfy_errors(bare)), body_part
    for side in ("R", "L"):
        ds, path = _object(tmp_path, body_part=body_part, laterality=side)
        assert ds.Laterality == side
        assert dciodvfy_errors(path) == [], (body_part, side)


@pytest.mark.parametrize("body_part", UNPAIRED)
def test_an_unpaired_body_part_has_no_laterality(tmp_path, body_part):
    assert not is_paired(body_part)
    ds, path = _object(tmp_path, body_part=body_part)
    assert "Laterality" not in ds
    assert dciodvfy_errors(path) == []


def test_a_side_for_an_unpaired_body_part_is_refused():
    # dciodvfy: "Attribute present when condition unsatisfied"; dropping it would lose
    # what the user typed, so it is an error that says why.
    with pytest.raises(ConversionError, match=r"Laterality 'R'.*CHEST.*not a paired"):
        complete_metadata(Metadata(body_part="CHEST", laterality="R"), NOW)


@pytest.mark.parametrize("side", ["B", "U", "r", "LEFT"])
def test_only_right_or_left_is_a_series_laterality(side):
    # General Series Laterality has the enumerated values R and L (dciodvfy: B and U
    # are "Unrecognized enumerated value").
    with pytest.raises(ConversionError, match=rf"Laterality '{side}'.*R \(right\) or L"):
        complete_metadata(Metadata(body_part="HAND", laterality=side), NOW)


def test_without_a_body_part_laterality_is_empty_or_the_side_given(tmp_path):
    ds, path = _object(tmp_path)
    assert ds.Laterality == ""
    assert dciodvfy_errors(path) == []
    ds, path = _object(tmp_path, laterality="L")
    assert ds.Laterality == "L"
    assert dciodvfy_errors(path) == []


def test_the_body_part_is_matched_whatever_its_case_or_padding():
    assert is_paired("KNEE") and is_paired(" knee ")


def test_laterality_comes_from_a_query_answer(tmp_path):
    answer = Dataset()
    answer.PatientID = "WL-1"
    answer.BodyPartExamined = "KNEE"
    answer.Laterality = "L"
    meta = metadata_from_match(answer)
    assert (meta.body_part, meta.laterality) == ("KNEE", "L")
    assert meta.queried["Laterality"] == "L"
    ds, path = _object(tmp_path, **{**dataclasses.asdict(meta), "queried": {}})
    assert ds.Laterality == "L"
    assert dciodvfy_errors(path) == []


def test_a_pdf_has_no_laterality_whatever_the_body_part(tmp_path):
    pdf = b"%PDF-1.4\n%%EOF\n"
    ds = build_encapsulated_pdf(pdf, Metadata(body_part="HAND", laterality="R"), now=NOW)
    assert "Laterality" not in ds
