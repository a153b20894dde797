"""``ezp2p scan`` with SANE's test backend (a real SANE device)."""

import pytest
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


def test_scan_every_page_of_the_feeder_into_one_series(
    sane_test_backend, storescp, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("EZP2P_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("EZP2P_OUTBOX", str(tmp_path / "outbox"))
    argv = ["scan", sane_test_backend, "--feeder", "--document", "--depth", "8"]
    argv += ["--resolution", "50", "--area", "0,0,40,30", "-o", str(tmp_path / "out")]
    argv += ["--to", storescp.destination.address]
    assert main(argv) == 0
    written = [dcmread(p) for p in sorted((tmp_path / "out").glob("*.dcm"))]
    assert len(written) == 10  # SANE's test feeder holds 10 pages
    assert {ds.SeriesInstanceUID for ds in written} == {written[0].SeriesInstanceUID}
    assert sorted(ds.InstanceNumber for ds in written) == list(range(1, 11))
    assert {ds.ConversionType for ds in written} == {"SD"}
    assert dciodvfy_errors(sorted((tmp_path / "out").glob("*.dcm"))[0]) == []
    received = [dcmread(p) for p in storescp.received()]
    assert len(received) == 10
    assert len({ds.SeriesInstanceUID for ds in received}) == 1


def test_scan_at_most_n_pages_and_a_bad_count(sane_test_backend, tmp_path, capsys):
    argv = ["scan", sane_test_backend, "--pages", "3", "--resolution", "50"]
    assert main([*argv, "--area", "0,0,40,30", "-o", str(tmp_path / "out")]) == 0
    assert len(list((tmp_path / "out").glob("*.dcm"))) == 3
    with pytest.raises(SystemExit) as refused:
        main(["scan", sane_test_backend, "--pages", "0", "-o", str(tmp_path / "none")])
    assert refused.value.code == 2
    assert "'0': give 1 or more pages" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_a_jam_stops_the_pages_and_the_ones_before_still_go(
    sane_test_backend, storescp, tmp_path, monkeypatch, capsys
):
    # SANE's test scanner cannot jam: its pages stop after the second one here.
    from napari_ezp2p.capture import scanning
    from napari_ezp2p.capture.scanner import ScannerError

    real = scanning.scan_pages

    def jamming(device, **kwargs):
        for number, page in enumerate(real(device, **kwargs), start=1):
            yield page
            if number == 2:
                raise ScannerError(f"scanner {device} failed while scanning: jammed")

    monkeypatch.setattr(scanning, "scan_pages", jamming)
    monkeypatch.setenv("EZP2P_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("EZP2P_OUTBOX", str(tmp_path / "outbox"))
    argv = ["scan", sane_test_backend, "--feeder", "--resolution", "50", "--area", "0,0,40,30"]
    argv += ["-o", str(tmp_path / "out"), "--to", storescp.destination.address]
    assert main(argv) == 1
    assert "jammed" in capsys.readouterr().err
    assert len(list((tmp_path / "out").glob("*.dcm"))) == 2
    assert len(storescp.received()) == 2
