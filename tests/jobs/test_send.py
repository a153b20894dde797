"""The one send pipeline: one object per item, the same at every destination, in the
syntax that keeps what the source is."""

from __future__ import annotations

import dataclasses

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import generate_frames
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLSLossless

from napari_ezp2p.cli import main
from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.imageio import read_image
from napari_ezp2p.core.jpegsegments import without_metadata
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.jobs import send as send_job
from napari_ezp2p.jobs.inputs import SyntaxChoice
from napari_ezp2p.net.destination import Destination
from napari_ezp2p.outbox import Outbox, OutboxError
from tests.conftest import start_storescp
from tests.outbox.test_queue import make_datasets

PACS = Destination("pacs", "PACS", "127.0.0.1", 104)


def _photo(path, **save):
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path, **save)
    return path


def _png(path):
    rng = np.random.default_rng(6)
    Image.fromarray(rng.integers(0, 255, (40, 30), dtype=np.uint8)).save(path)
    return path


def _wanting(key: str, name: str = "pacs") -> Destination:
    return dataclasses.replace(PACS, name=name, transfer_syntax=key)


def test_a_jpeg_keeps_its_own_syntax_and_anything_else_goes_explicit_le(tmp_path):
    choice = SyntaxChoice.of(None)
    assert choice.for_image(read_image(_photo(tmp_path / "a.jpg"))).uid == JPEGBaseline8Bit
    progressive = read_image(_photo(tmp_path / "p.jpg", progressive=True))
    assert choice.for_image(progressive).uid == ExplicitVRLittleEndian  # not carried as is
    assert choice.for_image(read_image(_png(tmp_path / "a.png"))).uid == ExplicitVRLittleEndian


def test_an_extended_jpeg_goes_as_jpeg_extended(tmp_path):
    import imagecodecs

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 255, (32, 32), dtype=np.uint8)
    stream = bytearray(imagecodecs.jpeg8_encode(pixels, level=90))
    sof = stream.find(b"\xff\xc0")
    stream[sof + 1] = 0xC1  # the same scan, declared extended sequential (SOF1)
    (tmp_path / "x.jpg").write_bytes(bytes(stream))
    assert SyntaxChoice.of(None).for_image(read_image(tmp_path / "x.jpg")).uid == (
        JPEGExtended12Bit
    )


def test_the_destinations_preference_counts_only_when_lossless_and_shared(tmp_path):
    png = read_image(_png(tmp_path / "a.png"))
    assert SyntaxChoice.of(None, [_wanting("jpeg-ls")]).for_image(png).uid == JPEGLSLossless
    both = [_wanting("jpeg-ls"), _wanting("jpeg-ls", "other")]
    assert SyntaxChoice.of(None, both).for_image(png).uid == JPEGLSLossless
    differing = [_wanting("jpeg-ls"), _wanting("rle", "other")]
    assert SyntaxChoice.of(None, differing).for_image(png).uid == ExplicitVRLittleEndian
    for lossy in ("jpeg-baseline", "j2k", "jpeg-ls-near"):
        assert SyntaxChoice.of(None, [_wanting(lossy)]).for_image(png).uid == (
            ExplicitVRLittleEndian
        )
    asked = SyntaxChoice.of("j2k-lossless", differing)
    assert asked.for_image(read_image(_photo(tmp_path / "a.jpg"))).key == "j2k-lossless"


def test_queue_writes_each_file_then_inserts_rows_in_batches(tmp_path, monkeypatch):
    ds = make_datasets(1)[0]
    ds.save_as(tmp_path / "in.dcm", enforce_file_format=True)
    rng = np.random.default_rng(0)
    image = SourceImage.from_array(rng.integers(0, 255, (8, 8), dtype=np.uint8))
    items = [send_job.SendItem(f"layer {n}", image=image) for n in range(4)]
    items.append(send_job.SendItem.file(tmp_path / "in.dcm"))
    monkeypatch.setattr(send_job, "QUEUE_BATCH", 2)
    meta = Metadata(patient_name="DOE^JANE", patient_id="ID1")
    with Outbox(tmp_path / "box") as outbox:
        batches = []
        insert = outbox.insert

        def counted(written, destinations, **kwargs):
            assert all(w.path.exists() for w in written)  # files first, then rows
            batches.append(len(written))
            return insert(written, destinations, **kwargs)

        monkeypatch.setattr(outbox, "insert", counted)
        report = send_job.queue(items, meta, [PACS], outbox)
        assert batches == [2, 2, 1]
        assert (report.converted, report.passed_through) == (4, 1)
        assert [row.state for row in report.rows] == ["queued"] * 5
        assert [e.id for e in outbox.list()] == [row.entry_id for row in report.rows]
        assert outbox.list()[-1].path.read_bytes() == (tmp_path / "in.dcm").read_bytes()
        # No destination: an error, and nothing is written.
        with pytest.raises(OutboxError, match="no destination"):
            send_job.queue(items[:1], meta, [], outbox)
        assert len(outbox.list()) == 5


def test_one_object_per_item_whatever_the_number_of_destinations(tmp_path):
    image = SourceImage.from_array(np.full((8, 8), 7, np.uint8))
    two = [_wanting("jpeg-ls", "a"), _wanting("", "b")]
    bad = send_job.SendItem("bad", load=lambda: (_ for _ in ()).throw(ValueError("no pixels")))
    with Outbox(tmp_path / "box") as outbox:
        items = [send_job.SendItem("one", image=image), bad, send_job.SendItem("two", image=image)]
        report = send_job.queue(items, Metadata(), two, outbox)
        rows = sorted((row.label, row.destination, row.state) for row in report.rows)
        assert rows == [
            ("bad", "a", "failed"),
            ("bad", "b", "failed"),
            ("one", "a", "queued"),
            ("one", "b", "queued"),
            ("two", "a", "queued"),
            ("two", "b", "queued"),
        ]
        by_label = {}
        for row in report.rows:
            by_label.setdefault(row.label, set()).add(row.sop_instance_uid)
        assert len(by_label["one"]) == len(by_label["two"]) == 1  # one UID per item
        assert by_label["one"] != by_label["two"]
        assert {row.message for row in report.rows if row.label == "bad"} == {"no pixels"}
        files = sorted(outbox.instances.iterdir())
        assert len(files) == 2  # one file per object, shared by both destinations


def test_send_a_jpeg_arrives_as_jpeg_baseline_with_its_bitstream_unchanged(tmp_path, storescp):
    photo = _photo(tmp_path / "photo.jpg", quality=85, comment=b"Jane Doe's scan")
    home = ["--config", str(tmp_path / "config.toml"), "--outbox", str(tmp_path / "outbox")]
    assert main([*home, "send", str(photo), "--to", storescp.destination.address]) == 0
    (path,) = storescp.received()
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    (frame,) = generate_frames(ds.PixelData, number_of_frames=1)
    assert frame.rstrip(b"\0") == without_metadata(photo.read_bytes()).rstrip(b"\0")
    assert b"Jane Doe" not in frame
    assert ds.LossyImageCompression == "01"


def test_two_destinations_get_one_object_and_a_lossy_preference_changes_nothing(
    tmp_path, storescp, capsys
):
    other = start_storescp(tmp_path / "other", ae_title="OTHER")
    try:
        home = ["--config", str(tmp_path / "config.toml"), "--outbox", str(tmp_path / "outbox")]
        a, b = storescp.destination.address, other.destination.address
        assert main([*home, "destinations", "add", "A", a, "--ts", "jpeg-baseline"]) == 0
        assert main([*home, "destinations", "add", "B", b, "--ts", "explicit-le"]) == 0
        png = _png(tmp_path / "img.png")
        assert main([*home, "send", str(png), "--to", "A", "--to", "B"]) == 0, capsys.readouterr()
        (at_a,) = [pydicom.dcmread(p) for p in storescp.received()]
        (at_b,) = [pydicom.dcmread(p) for p in other.received()]
    finally:
        other.peer.stop()
    assert at_a.SOPInstanceUID == at_b.SOPInstanceUID
    assert at_b.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    expected = np.asarray(Image.open(png))
    for ds in (at_a, at_b):
        assert "LossyImageCompression" not in ds or ds.LossyImageCompression == "00"
        assert np.array_equal(ds.pixel_array, expected)


def test_config_defaults_fill_only_what_the_user_left_empty():
    defaults = Metadata(
        charset="ISO_IR 100", series_number=5, institution_name="Hosp", station_name="ST1"
    )
    assert send_job.with_config_defaults(Metadata(), defaults) == defaults
    chosen = Metadata(patient_name="DOE^JANE", charset="ISO_IR 192", series_number=1)
    filled = send_job.with_config_defaults(chosen, defaults)
    assert (filled.charset, filled.series_number) == ("ISO_IR 192", 1)
    assert (filled.institution_name, filled.station_name) == ("Hosp", "ST1")
    assert filled.patient_name == "DOE^JANE"
    own = dataclasses.replace(chosen, institution_name="Lab")
    assert send_job.with_config_defaults(own, defaults).institution_name == "Lab"
