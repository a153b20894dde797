"""``ezp2p convert`` of DICOM inputs: what parses is copied, the rest refused with the
reason and a non-zero exit status, and the batch goes on."""

from __future__ import annotations

from pydicom import dcmread

from napari_ezp2p.cli import main
from tests.broken_objects import instance_number_overflowing, pixel_data_claiming_4_gib, sc_file


def test_broken_dicom_inputs_are_refused_and_the_whole_one_copied(tmp_path, capsys):
    good = sc_file(tmp_path / "in" / "good.dcm")
    claims = pixel_data_claiming_4_gib(tmp_path / "in" / "claims.dcm")
    overflow = instance_number_overflowing(tmp_path / "in" / "overflow.dcm")
    out = tmp_path / "out"
    status = main(["convert", str(claims), str(good), str(overflow), "-o", str(out)])
    assert status == 1
    err = capsys.readouterr().err
    assert f"{claims}: (7FE0,0010) PixelData claims 4294967280 bytes" in err
    assert f"{overflow}: (0020,0013) InstanceNumber cannot be decoded" in err
    assert "2 of 3 files failed" in err
    assert sorted(p.name for p in out.iterdir()) == ["good.dcm"]
    assert dcmread(out / "good.dcm").SOPInstanceUID == dcmread(good).SOPInstanceUID
