"""``ezp2p scan`` with SANE's test backend (a real SANE device)."""

from pydicom import dcmread

from napari_ezp2p.cli import main
from tests.peers import dciodvfy_errors


def test_scan_lists_devices_then_scans_a_film_to_a_file_and_a_pacs(
    sane_test_backend, storescp, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("EZP2P_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("EZP2P_OUTBOX", str(tmp_path / "outbox"))
    assert main(["scan"]) == 0
    assert sane_test_backend in capsys.readouterr().out

    argv = ["scan", sane_test_backend, "-o", str(tmp_path / "out"), "--resolution", "50"]
    argv += ["--area", "0,0,40,30", "--to", storescp.destination.address]
    argv += ["--patient-name", "FILM^SCAN"]
    assert main(argv) == 0
    (written,) = (tmp_path / "out").glob("*.dcm")
    assert dciodvfy_errors(written) == []
    ds = dcmread(written)
    assert (ds.ConversionType, ds.BitsAllocated, ds.PatientName) == ("DF", 16, "FILM^SCAN")
    assert [float(v) for v in ds.NominalScannedPixelSpacing] == [0.508, 0.508]
    assert (ds.Rows, ds.Columns) == (59, 78)
    (received,) = storescp.received()
    assert dcmread(received).PatientName == "FILM^SCAN"


def test_scan_needs_somewhere_to_put_the_result(sane_test_backend, capsys):
    assert main(["scan", sane_test_backend]) == 1
    assert "-o DIR" in capsys.readouterr().err
