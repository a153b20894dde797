"""What parses and what does not: pydicom's own test files, whole and cut short, and
objects broken byte by byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from napari_ezp2p.core.dicom_check import DicomCheckError, read_checked
from tests.broken_objects import instance_number_overflowing, pixel_data_claiming_4_gib, sc_file

WHOLE = ["CT_small.dcm", "MR_small_RLE.dcm", "JPEG2000.dcm", "SC_rgb_rle.dcm", "rtplan.dcm"]


@pytest.mark.parametrize("name", WHOLE)
def test_whole_files_pass(name):
    ds = read_checked(get_testdata_file(name))
    assert ds.SOPInstanceUID


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("MR_truncated.dcm", "(7FE0,0010) PixelData claims 8192 bytes, has 8130"),
        ("rtplan_truncated.dcm", "(300A,00B0) BeamSequence claims 976 bytes"),
        ("badVR.dcm", "Pixel Data whose image attributes are not numbers"),
        ("no_meta.dcm", "not a DICOM file"),
    ],
)
def test_broken_files_of_pydicom_are_refused_with_the_reason(name, reason):
    with pytest.raises(DicomCheckError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        read_checked(get_testdata_file(name))


def test_pixel_data_that_claims_4_gib_and_holds_3_bytes_is_refused(tmp_path):
    with pytest.raises(DicomCheckError, match="claims 4294967280 bytes, has 3"):
        read_checked(pixel_data_claiming_4_gib(tmp_path / "broken.dcm"))


def test_a_value_pydicom_cannot_decode_is_refused(tmp_path):
    with pytest.raises(DicomCheckError, match="InstanceNumber cannot be decoded"):
        read_checked(instance_number_overflowing(tmp_path / "broken.dcm"))


def test_headers_only_skip_the_pixel_data(tmp_path):
    ds = read_checked(sc_file(tmp_path / "one.dcm"), stop_before_pixels=True)
    assert "PixelData" not in ds


@pytest.mark.parametrize("name", ["JPEG2000.dcm", "MR_small_RLE.dcm", "CT_small.dcm"])
@pytest.mark.parametrize("where", ["in the pixel data", "before the pixel data"])
def test_files_cut_short_are_refused(tmp_path, name, where):
    data = Path(get_testdata_file(name)).read_bytes()
    start = data.rindex(b"\xe0\x7f\x10\x00")
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: (start + len(data)) // 2 if where == "in the pixel data" else start])
    with pytest.raises(DicomCheckError, match="claims|cut short"):
        read_checked(cut)
