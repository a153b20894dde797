import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.encaps import generate_frames

from napari_ezp2p import __version__
from napari_ezp2p.cli import main
from napari_ezp2p.config import load_config
from napari_ezp2p.outbox import Outbox
from tests.conftest import free_port
from tests.peers import dciodvfy_errors


@pytest.fixture
def images(tmp_path) -> list[Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(3)
    photo = folder / "photo.jpg"
    Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(photo, quality=90)
    film = folder / "film.png"
    Image.fromarray(rng.integers(0, 4095, (60, 80), dtype=np.uint16)).save(film)
    return [photo, film]


def test_convert_writes_one_valid_file_per_input(tmp_path, images, capsys):
    out = tmp_path / "out"
    status = main(
        [
            "convert",
            *map(str, images),
            "-o",
            str(out),
            "--patient-name",
            "DOE^JANE",
            "--patient-id",
            "P123",
            "--birth-date",
            "1984-02-29",
            "--sex",
            "F",
            "--accession",
            "ACC1",
            "--study-description",
            "Films",
            "--series-description",
            "Scans",
            "--modality",
            "OT",
            "--referring",
            "HOUSE^GREGORY",
            "--body-part",
            "CHEST",
            "--study-uid",
            "1.2.3.4",
            "--series-uid",
            "1.2.3.4.1",
            "--charset",
            "ISO_IR 100",
        ]
    )
    assert status == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    written = sorted(out.glob("*.dcm"))
    assert [p.name for p in written] == ["film.dcm", "photo.dcm"]
    for path in written:
        assert str(path) in "\n".join(lines)
        assert dciodvfy_errors(path) == []
        ds = dcmread(path)
        assert (ds.PatientName, ds.PatientID) == ("DOE^JANE", "P123")
        assert ds.PatientBirthDate == "19840229"
        assert (ds.StudyInstanceUID, ds.SeriesInstanceUID) == ("1.2.3.4", "1.2.3.4.1")
        assert ds.ReferringPhysicianName == "HOUSE^GREGORY"
        assert ds.SpecificCharacterSet == "ISO_IR 100"
    assert [dcmread(p).InstanceNumber for p in (out / "photo.dcm", out / "film.dcm")] == [1, 2]


def test_film_options_and_transfer_syntax(tmp_path, images):
    out = tmp_path / "out"
    argv = ["convert", str(images[1]), "-o", str(out), "--ts", "jpeg-ls", "--window", "2048,4096"]
    argv += ["--pixel-spacing", "0.085", "--conversion-type", "DF", "--rescale", "1,-1024"]
    assert main(argv) == 0
    ds = dcmread(out / "film.dcm")
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.80"
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (2048, 4096)
    assert [float(v) for v in ds.NominalScannedPixelSpacing] == [0.085, 0.085]
    assert float(ds.RescaleIntercept) == -1024 and ds.ConversionType == "DF"
    assert np.array_equal(ds.pixel_array, np.asarray(Image.open(images[1])))


def test_jpeg_baseline_keeps_the_original_bitstream(tmp_path, images):
    out = tmp_path / "out"
    assert main(["convert", str(images[0]), "-o", str(out), "--ts", "jpeg-baseline"]) == 0
    ds = dcmread(out / "photo.dcm")
    original = images[0].read_bytes()
    scan_to_eoi = original[original.index(b"\xff\xda") :]
    (frame,) = generate_frames(ds.PixelData, number_of_frames=1)
    assert scan_to_eoi in frame


def test_a_broken_file_is_reported_and_the_others_still_convert(tmp_path, images, capsys):
    broken = tmp_path / "in" / "broken.png"
    broken.write_bytes(images[1].read_bytes()[:200])
    out = tmp_path / "out"
    status = main(["convert", str(images[0]), str(broken), "-o", str(out)])
    assert status == 1
    err = capsys.readouterr().err
    assert "broken.png" in err and "1 of 2 files failed" in err
    assert sorted(p.name for p in out.iterdir()) == ["photo.dcm"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--charset", "ISO_IR 100", "--patient-name", "山田^太郎"], "PatientName"),
        (["--accession", "X" * 17], "AccessionNumber"),
        (["--ts", "jpeg-2001"], "unknown transfer syntax 'jpeg-2001'"),
        (["--ts", "jpeg-baseline"], "JPEG Baseline"),
    ],
)
def test_bad_options_fail_before_anything_is_written(tmp_path, images, capsys, options, message):
    out = tmp_path / "out"
    status = main(["convert", str(images[1]), "-o", str(out), *options])
    assert status == 1
    assert message in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_the_installed_command_runs(tmp_path, images):
    ezp2p = Path(sys.executable).parent / "ezp2p"
    result = subprocess.run(
        [str(ezp2p), "convert", str(images[0]), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "photo.dcm").exists()
    bad = subprocess.run([str(ezp2p), "convert", "-o", str(tmp_path)], capture_output=True)
    assert bad.returncode == 2


def test_the_command_starts_without_loading_pydicoms_download_modules():
    # pydicom.data imports them, if installed, to download test files: 0.1-0.2 s a start.
    probe = (
        "import sys\n"
        "from napari_ezp2p import _command\n"
        "sys.argv = ['ezp2p', '--version']\n"
        "try:\n"
        "    _command.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(set(_command.DOWNLOAD_MODULES) & set(sys.modules)))\n"
        "import requests, tqdm\n"  # hidden only while pydicom loads
        "print(requests.get.__name__, tqdm.tqdm.__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"ezp2p {__version__}", "[]", "get tqdm"]


def test_videos_and_pdfs_convert_too(tmp_path, capsys):
    import av

    video = tmp_path / "in" / "clip.mkv"
    video.parent.mkdir()
    with av.open(str(video), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for n in range(8):
            frame = np.full((48, 64, 3), n * 30, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    document = tmp_path / "in" / "report.pdf"
    Image.new("RGB", (200, 100), "white").save(document)

    out = tmp_path / "out"
    assert main(["convert", str(video), str(document), "-o", str(out)]) == 0
    clip = dcmread(out / "clip.dcm")
    assert clip.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7.4"
    assert (int(clip.NumberOfFrames), float(clip.FrameTime), clip.ConversionType) == (8, 40, "DV")
    pdf = dcmread(out / "report.dcm")
    assert pdf.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1"
    assert pdf.EncapsulatedDocument[: int(pdf.EncapsulatedDocumentLength)] == document.read_bytes()
    for path in (out / "clip.dcm", out / "report.dcm"):
        assert dciodvfy_errors(path) == []


def test_destinations_add_stores_the_associations(tmp_path, capsys):
    config_file = tmp_path / "config.toml"
    argv = ["--config", str(config_file), "destinations", "add", "pacs", "PACS@h:104"]
    assert main([*argv, "--associations", "3"]) == 0
    assert load_config(config_file).destinations["pacs"].associations == 3
    assert main(["--config", str(config_file), "destinations", "list"]) == 0
    assert "3 associations" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["send", "destinations"])
@pytest.mark.parametrize("value", ["0", "17", "two"])
def test_associations_out_of_range_are_wrong_usage(tmp_path, images, capsys, command, value):
    config_file = tmp_path / "config.toml"
    if command == "send":
        argv = ["send", str(images[0]), "--to", "PACS@127.0.0.1:104"]
    else:
        argv = ["destinations", "add", "pacs", "PACS@h:104"]
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(config_file), *argv, "--associations", value])
    assert exit_info.value.code == 2
    assert f"--associations: {value!r}: give 1 to 16 associations" in capsys.readouterr().err
    assert not config_file.exists()


def test_send_associations_override_every_destination(tmp_path, images, capsys):
    home = ["--config", str(tmp_path / "config.toml"), "--outbox", str(tmp_path / "outbox")]
    closed = f"PACS@127.0.0.1:{free_port()}"  # nothing listens: the sends fail at once
    assert main([*home, "destinations", "add", "pacs", closed, "--associations", "3"]) == 0
    assert main([*home, "send", str(images[0]), "--to", "pacs"]) == 1
    argv = ["send", str(images[0]), "--to", "pacs", "--to", closed, "--associations", "5"]
    assert main([*home, *argv]) == 1
    assert "kept in the outbox" in capsys.readouterr().out
    with Outbox(tmp_path / "outbox") as outbox:
        entries = outbox.list()
    sent_to = [(e.destination_name, e.destination.associations) for e in entries]
    assert sorted(sent_to) == sorted([("pacs", 3), ("pacs", 5), (closed, 5)])


def test_parallel_destinations_each_keep_their_own_progress_bar(monkeypatch):
    import io
    import threading

    from napari_ezp2p.cli.render import ProgressBars

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with ProgressBars() as bars:

        def run(name: str, total: int) -> None:
            for done in range(total + 1):
                bars.show(name, done, total)

        threads = [threading.Thread(target=run, args=(n, t)) for n, t in (("a", 40), ("b", 70))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        shown = {name: (bar.n, bar.total, bar.pos) for name, bar in bars._bars.items()}
    assert {name: done for name, (done, _, _) in shown.items()} == {"a": 40, "b": 70}
    assert len({abs(pos) for _, _, pos in shown.values()}) == 2  # a line each
    output = terminal.getvalue()
    assert "a: 100%" in output and "b: 100%" in output and "40/40" in output and "70/70" in output


def test_find_and_worklist_options_become_the_query_filters():
    from napari_ezp2p.cli.options import query_filters
    from napari_ezp2p.cli.parser import build_parser
    from napari_ezp2p.jobs.query import Filters

    parser = build_parser()
    args = parser.parse_args(["find", "--patient-name", "doe*", "--study-date", "2026-01-01.."])
    assert query_filters(args) == Filters(patient_name="doe*", date="20260101-")
    args = parser.parse_args(["worklist", "--station-aet", "CAM", "--date", "20261129"])
    assert query_filters(args) == Filters(station_aet="CAM", date="20261129")


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    from napari_ezp2p.net.destination import Destination
    from napari_ezp2p.outbox import Outbox
    from tests.outbox.test_queue import make_datasets

    with Outbox(tmp_path / "outbox") as outbox:  # more lines than a pipe holds
        outbox.add(make_datasets(3000), [Destination("d", "D", "127.0.0.1", 104)])
    ezp2p = Path(sys.executable).parent / "ezp2p"
    argv = [str(ezp2p), "--outbox", str(tmp_path / "outbox"), "queue", "list"]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout.readline()  # like `| head -1`, then the reader goes away
    child.stdout.close()
    assert child.wait(timeout=60) == 1
    assert b"Traceback" not in child.stderr.read()
    child.stderr.close()


def test_a_file_that_cannot_be_read_is_named_once(tmp_path, capsys):
    missing = tmp_path / "nothere.png"
    assert main(["convert", str(missing), "-o", str(tmp_path / "out")]) == 1
    (line, _count) = capsys.readouterr().err.splitlines()
    assert line == f"ezp2p: Cannot read {missing}: the file does not exist"
