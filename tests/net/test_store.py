"""Storage as SCU, against storescp, Orthanc and pynetdicom SCPs."""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np
import pydicom
import pynetdicom.association
import pytest
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless
from pynetdicom import _config

from napari_ezp2p.core.transfer import TRANSFER_SYNTAXES
from napari_ezp2p.net.destination import Destination
from napari_ezp2p.net.store import StoreFile, _storage_status, store
from napari_ezp2p.net.transfer import (
    FAILURE,
    MAX_ABORTED_OBJECTS,
    MAX_FRUITLESS,
    NOT_SENT,
    REJECTED,
    SUCCESS,
    WARNING,
    StoreProgress,
)
from tests.conftest import free_port
from tests.net.helpers import SETTINGS, fake_scp, grey8, sc_objects

# ---------------------------------------------------------------------------------------
# Storage to storescp


def test_every_transfer_syntax_arrives_and_lossless_is_bit_exact(storescp):
    objects = [sc_objects(1, ts.key)[0] for ts in TRANSFER_SYNTAXES]
    report = store(objects, storescp.destination, SETTINGS)
    assert report.ok, report.error
    assert [o.category for o in report.outcomes] == ["success"] * len(objects)
    received = {}
    for path in storescp.received():
        ds = pydicom.dcmread(path)
        received[ds.SOPInstanceUID] = ds
    assert len(received) == len(TRANSFER_SYNTAXES)
    for ts, sent, outcome in zip(TRANSFER_SYNTAXES, objects, report.outcomes, strict=True):
        got = received[sent.SOPInstanceUID]
        assert got.file_meta.TransferSyntaxUID == ts.uid, ts.key
        assert outcome.transfer_syntax == ts.uid
        if ts.lossless:
            assert np.array_equal(got.pixel_array, grey8(1)), ts.key


def test_part10_paths_are_sent_and_progress_counts_bytes(storescp, tmp_path):
    paths = []
    for number, ds in enumerate(sc_objects(3, "jpeg-ls")):
        paths.append(tmp_path / f"{number}.dcm")
        ds.save_as(paths[-1], enforce_file_format=True)
    updates = []
    report = store(paths, storescp.destination, SETTINGS, progress=updates.append)
    assert report.ok, report.error
    assert [o.source for o in report.outcomes] == [str(p) for p in paths]
    finished = [u for u in updates if u.outcome is not None]
    assert [u.done for u in finished] == [1, 2, 3]
    assert all(u.total == 3 for u in updates)
    byte_counts = [u.bytes_sent for u in updates]
    assert byte_counts == sorted(byte_counts)
    # every object's file is bigger than 1 KiB: the wire counts at least the pixel data
    assert report.bytes_sent >= sum(p.stat().st_size for p in paths) - 3 * 200
    assert finished[-1].bytes_sent <= report.bytes_sent
    assert len(storescp.received()) == 3


def test_preferred_transfer_syntax_is_transcoded_losslessly(storescp):
    objects = sc_objects(2, "explicit-le")
    dest = dataclasses.replace(storescp.destination, transfer_syntax="jpeg-ls")
    report = store(objects, dest, SETTINGS)
    assert report.ok, report.error
    for path in storescp.received():
        ds = pydicom.dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == JPEGLSLossless
        assert ds.SOPInstanceUID in {o.SOPInstanceUID for o in objects}
        assert np.array_equal(ds.pixel_array, grey8(int(ds.InstanceNumber)))
    # the caller's datasets are left as they were
    assert all(o.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian for o in objects)


def test_a_lossy_preference_never_recompresses_lossless_objects(storescp):
    dest = dataclasses.replace(storescp.destination, transfer_syntax="jpeg-baseline")
    report = store(sc_objects(1, "rle"), dest, SETTINGS)
    assert report.ok, report.error
    (path,) = storescp.received()
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"


def _slow(number: int, ds) -> int:
    time.sleep(0.05)
    return 0


def test_several_associations_share_the_objects():
    objects = sc_objects(12)
    seen: list[StoreProgress] = []
    with fake_scp(_slow) as scp:
        dest = dataclasses.replace(scp.destination, associations=3)
        report = store(objects, dest, SETTINGS, progress=seen.append)
    assert report.ok, report.error
    assert sorted(scp.stored) == sorted(ds.SOPInstanceUID for ds in objects)
    assert len(scp.requests) == 3
    assert len(set(scp.stored_on)) == 3  # each association stored some of them
    assert [o.index for o in report.outcomes] == list(range(12))
    done = [p.done for p in seen if p.outcome is not None]
    assert done == list(range(1, 13))
    assert seen[-1].bytes_sent == report.bytes_sent > sum(len(ds.PixelData) for ds in objects)


def test_a_peer_taking_one_association_at_a_time_gets_everything(storescp):
    # storescp serves one association, then the next: the others wait their turn
    dest = dataclasses.replace(storescp.destination, associations=4)
    report = store(sc_objects(10), dest, SETTINGS)
    assert report.ok, report.error
    assert len(storescp.received()) == 10


def test_associations_beyond_the_peers_limit_are_not_an_error(caplog):
    caplog.set_level(logging.INFO, logger="napari_ezp2p")
    with fake_scp(_slow, maximum_associations=1) as scp:
        dest = dataclasses.replace(scp.destination, associations=3)
        report = store(sc_objects(6), dest, SETTINGS)
    assert report.ok, report.error
    assert len(scp.stored) == 6 and len(set(scp.stored_on)) == 1
    assert "2 more associations refused" in caplog.text


def test_the_transfer_does_not_wait_for_associations_still_being_answered():
    # the peer answers every association after the first one 3 s late
    def late(number: int) -> None:
        if number > 0:
            time.sleep(3)

    seen: list[StoreProgress] = []
    with fake_scp(on_request=late) as scp:
        dest = dataclasses.replace(scp.destination, associations=3)
        started = time.monotonic()
        report = store(sc_objects(4), dest, SETTINGS, progress=seen.append)
        took = time.monotonic() - started
        reported = len(seen)
        time.sleep(3.5)  # the late associations open, find nothing to send, and say nothing
        assert len(scp.requests) == 3
    assert report.ok, report.error
    assert took < 2.5, f"{took:.1f} s: the transfer waited for the late associations"
    assert len(scp.stored) == 4 and len(set(scp.stored_on)) == 1
    assert len(seen) == reported


def test_a_failure_on_one_association_fails_that_object_only():
    def third_fails(number: int, ds) -> int:
        time.sleep(0.05)
        return 0xA700 if number == 2 else 0

    objects = sc_objects(12)
    with fake_scp(third_fails) as scp:
        dest = dataclasses.replace(scp.destination, associations=3)
        report = store(objects, dest, SETTINGS)
    categories = [o.category for o in report.outcomes]
    assert categories.count(FAILURE) == 1 and categories.count(SUCCESS) == 11
    (failed,) = [o for o in report.outcomes if o.category == FAILURE]
    assert report.error == failed.message and "0xA700" in failed.message
    # every object was offered once; the aborted association was replaced by a fresh one
    assert sorted(scp.stored) == sorted(ds.SOPInstanceUID for ds in objects)
    assert len(scp.requests) == 4


def test_orthanc_stores_from_several_associations(orthanc):
    server = orthanc()
    objects = sc_objects(20)
    dest = dataclasses.replace(server.destination, associations=4)
    report = store(objects, dest, SETTINGS)
    assert report.ok, report.error
    stored = server.rest("/instances?expand")
    uids = sorted(i["MainDicomTags"]["SOPInstanceUID"] for i in stored)
    assert uids == sorted(ds.SOPInstanceUID for ds in objects)


def test_unreachable_destination_reports_every_object_not_sent():
    dest = Destination("nobody", "NOBODY", "127.0.0.1", free_port())
    objects = sc_objects(2)
    report = store(objects, dest, SETTINGS)
    assert not report.ok
    assert "connection refused" in report.error
    assert [o.category for o in report.outcomes] == ["not sent", "not sent"]
    assert [o.sop_instance_uid for o in report.outcomes] == [o.SOPInstanceUID for o in objects]


# ---------------------------------------------------------------------------------------
# Status handling, against a pynetdicom SCP


def test_failure_status_aborts_its_association_and_the_rest_goes_over_a_fresh_one():
    objects = sc_objects(4)
    with fake_scp(lambda n, ds: 0xA700 if n == 1 else 0) as scp:
        report = store(objects, scp.destination, SETTINGS)
        assert scp.aborted.wait(5), "the association was not aborted"
    assert [o.category for o in report.outcomes] == [SUCCESS, FAILURE, SUCCESS, SUCCESS]
    assert report.outcomes[1].status == 0xA700
    assert "Out of Resources" in report.outcomes[1].message
    assert report.error == report.outcomes[1].message
    assert scp.stored == [o.SOPInstanceUID for o in objects]
    assert len(scp.requests) == 2 and len(set(scp.stored_on)) == 2
    assert not report.ok


def test_a_peer_that_fails_one_object_and_aborts_gets_the_rest_over_a_fresh_association():
    objects = sc_objects(6)
    with fake_scp(lambda n, ds: 0xC123 if n == 2 else 0, abort_after={2}) as scp:
        report = store(objects, scp.destination, SETTINGS)
    assert [o.category for o in report.outcomes] == [SUCCESS] * 2 + [REJECTED] + [SUCCESS] * 3
    assert report.outcomes[2].status == 0xC123
    assert "0xC123 Cannot Understand" in report.outcomes[2].message
    assert scp.stored == [ds.SOPInstanceUID for ds in objects]
    first, fresh = scp.stored_on[0], scp.stored_on[3]
    assert scp.stored_on == [first] * 3 + [fresh] * 3 and fresh != first


def test_a_peer_that_aborts_every_association_is_given_up_on():
    objects = sc_objects(8)
    with fake_scp(lambda n, ds: 0xA700, abort_after=range(100)) as scp:
        report = store(objects, scp.destination, SETTINGS)
    categories = [o.category for o in report.outcomes]
    assert categories == [FAILURE] * MAX_FRUITLESS + [NOT_SENT] * (8 - MAX_FRUITLESS)
    assert len(scp.requests) == MAX_FRUITLESS
    assert f"{MAX_FRUITLESS} associations in a row stored nothing" in report.error
    assert "0xA700" in report.error
    assert all(report.error in o.message for o in report.outcomes[MAX_FRUITLESS:])


def test_objects_the_peer_aborts_on_fail_alone_and_the_rest_goes():
    objects = sc_objects(7 + MAX_ABORTED_OBJECTS + 1)
    poison = {0, 1, 2, 5, *range(7, 7 + MAX_ABORTED_OBJECTS)}  # once one is stored: any
    with fake_scp(abort_on=poison) as scp:  # each aborted, on its own association
        report = store(objects, scp.destination, SETTINGS)
    categories = [o.category for o in report.outcomes]
    assert [n for n, category in enumerate(categories) if category == FAILURE] == sorted(poison)
    assert all(
        "aborted the association while receiving" in report.outcomes[n].message for n in poison
    )
    assert scp.stored == [ds.SOPInstanceUID for ds in objects]  # each offered once
    # our AE title is suspected only while the peer has answered nothing of ours
    assert "our AE title" in report.outcomes[0].message
    assert all("AE title" not in report.outcomes[n].message for n in poison - {0, 1, 2})


def test_a_peer_that_aborts_every_object_it_receives_is_given_up_on():
    with fake_scp(abort_on=range(100)) as scp:
        report = store(sc_objects(MAX_ABORTED_OBJECTS + 3), scp.destination, SETTINGS)
    categories = [o.category for o in report.outcomes]
    assert categories == [FAILURE] * MAX_ABORTED_OBJECTS + [NOT_SENT] * 3
    assert len(scp.requests) == MAX_ABORTED_OBJECTS
    assert f"{MAX_ABORTED_OBJECTS} associations in a row stored nothing" in report.error


def test_a_peer_taking_only_implicit_vr_gets_explicit_vr_files_transcoded():
    from pydicom import dcmread
    from pydicom.data import get_testdata_file
    from pydicom.uid import ImplicitVRLittleEndian
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import CTImageStorage

    received = []

    def on_store(event):
        ds = event.dataset
        ds.file_meta = event.file_meta
        received.append(ds)
        return 0x0000

    ae = AE("IMPLICIT")
    ae.add_supported_context(CTImageStorage, ImplicitVRLittleEndian)
    port = free_port()
    server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    try:
        source = get_testdata_file("CT_small.dcm")  # explicit VR little endian
        report = store([source], Destination("impl", "IMPLICIT", "127.0.0.1", port), SETTINGS)
    finally:
        server.shutdown()
    assert [o.category for o in report.outcomes] == [SUCCESS], report.outcomes
    assert report.outcomes[0].transfer_syntax == ImplicitVRLittleEndian
    (got,) = received
    original = dcmread(source)
    assert got.PatientName == original.PatientName
    assert (got.pixel_array == original.pixel_array).all()


def test_refusals_for_good_do_not_make_the_transfer_give_up():
    objects = sc_objects(6)
    with fake_scp(lambda n, ds: 0xA900 if n < 5 else 0) as scp:
        report = store(objects, scp.destination, SETTINGS)
    assert [o.category for o in report.outcomes] == [REJECTED] * 5 + [SUCCESS]
    assert len(scp.requests) == 6  # each refusal ended its association, as we abort it


@pytest.mark.parametrize(
    "status, text",
    [
        (0xB000, "Coercion of Data Elements"),
        (0xB007, "Data Set Does Not Match SOP Class"),
        (0xB006, "Element Discarded"),
    ],
)
def test_warning_status_is_recorded_and_the_transfer_goes_on(status, text):
    with fake_scp(lambda n, ds: status if n == 1 else 0) as scp:
        report = store(sc_objects(3), scp.destination, SETTINGS)
    assert [o.category for o in report.outcomes] == ["success", "warning", "success"]
    assert report.outcomes[1].status == status
    assert text in report.outcomes[1].message
    assert report.ok
    assert len(scp.stored) == 3


@pytest.mark.parametrize(
    "code, category, text",
    [
        (0x0000, SUCCESS, "Success"),
        (0x0001, WARNING, "Warning"),
        (0x0107, WARNING, "Attribute List Error"),
        (0xB000, WARNING, "Coercion of Data Elements"),
        (0xB007, WARNING, "Data Set Does Not Match SOP Class"),
        (0xB123, WARNING, "Warning"),  # an unknown 0xBxxx code is still a warning
        (0x0122, REJECTED, "Refused: SOP Class Not Supported"),
        (0xA700, FAILURE, "Refused: Out of Resources"),  # may be taken later
        (0x0213, FAILURE, "Resource Limitation"),
        (0xA7FF, REJECTED, "Refused: Out of Resources"),
        (0xA900, REJECTED, "Data Set Does Not Match SOP Class"),
        (0xC000, REJECTED, "Cannot Understand"),
        (0xC123, REJECTED, "Cannot Understand"),
        (0xFE00, FAILURE, "Cancel"),
        (0xFF00, FAILURE, "Pending"),  # no C-STORE is pending: the peer is wrong
        (0x1234, FAILURE, "Unknown"),
        (0xD000, FAILURE, "Unknown"),
    ],
)
def test_a_storage_status_has_pynetdicoms_category_and_text(code, category, text):
    assert _storage_status(code) == (category, text)


def test_no_answer_is_a_timeout_not_a_hang():
    def sleepy(n, ds):
        time.sleep(3)
        return 0

    settings = dataclasses.replace(SETTINGS, dimse_timeout=0.5)
    with fake_scp(sleepy) as scp:
        start = time.perf_counter()
        report = store(sc_objects(2), scp.destination, settings)
        took = time.perf_counter() - start
    assert took < 2.5
    # each timed out, over an association of its own (pynetdicom aborts at the timeout)
    assert [o.category for o in report.outcomes] == [FAILURE, FAILURE]
    assert all("did not answer within 0.5 s" in o.message for o in report.outcomes)


# ---------------------------------------------------------------------------------------
# Orthanc


def test_orthanc_narrowed_to_native_gets_jpeg_ls_as_explicit_le(orthanc):
    server = orthanc(AcceptedTransferSyntaxes=["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"])
    (ds,) = sc_objects(1, "jpeg-ls")
    report = store([ds], server.destination, SETTINGS)
    assert report.ok, report.error
    assert report.outcomes[0].transfer_syntax == ExplicitVRLittleEndian
    assert ds.file_meta.TransferSyntaxUID == JPEGLSLossless
    (instance,) = server.rest("/instances")
    tags = server.rest(f"/instances/{instance}/tags?simplify")
    assert tags["SOPInstanceUID"] == ds.SOPInstanceUID
    metadata = server.rest(f"/instances/{instance}/metadata?expand")
    assert metadata["TransferSyntax"] == ExplicitVRLittleEndian
    from urllib.request import urlopen

    with urlopen(f"{server.http}/instances/{instance}/file") as response:
        stored = pydicom.dcmread(__import__("io").BytesIO(response.read()))
    assert np.array_equal(stored.pixel_array, grey8(1))


def test_orthanc_that_does_not_know_us_refuses_everything(orthanc):
    server = orthanc(DicomModalities={}, DicomAlwaysAllowStore=False)
    report = store(sc_objects(MAX_ABORTED_OBJECTS + 2), server.destination, SETTINGS)
    assert not report.ok
    # Orthanc accepts each association, then aborts it at the first C-STORE: as it has
    # stored nothing, the transfer gives up after MAX_ABORTED_OBJECTS of them
    categories = [o.category for o in report.outcomes]
    assert categories == [FAILURE] * MAX_ABORTED_OBJECTS + [NOT_SENT] * 2
    assert "orthanc (ORTHANC@127.0.0.1" in report.error
    assert "aborted the association" in report.error
    assert "our AE title 'EZP2P'" in report.error
    assert server.rest("/instances") == []


# ---------------------------------------------------------------------------------------
# Objects that cannot go


def test_an_unreadable_file_is_rejected_and_the_others_go(storescp, tmp_path):
    good = tmp_path / "good.dcm"
    sc_objects(1)[0].save_as(good, enforce_file_format=True)
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not DICOM")
    report = store([bad, good], storescp.destination, SETTINGS)
    assert [o.category for o in report.outcomes] == [REJECTED, SUCCESS]
    assert str(bad) in report.outcomes[0].message
    assert not report.ok
    assert len(storescp.received()) == 1


def test_a_sop_class_the_peer_refuses_is_rejected_and_the_others_go(storescp):
    ct, sc, other = sc_objects(3)
    ct.SOPClassUID = ct.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    report = store([ct, sc, other], storescp.destination, SETTINGS)
    assert [o.category for o in report.outcomes] == [REJECTED, SUCCESS, SUCCESS]
    assert "accepted no presentation context for CT Image Storage" in report.error
    assert len(storescp.received()) == 2
    only_ct = store([ct], storescp.destination, SETTINGS)
    assert [o.category for o in only_ct.outcomes] == [REJECTED]
    assert "accepted none of the presentation contexts we proposed" in only_ct.error
    message = only_ct.outcomes[0].message
    assert "accepted no presentation context for CT Image Storage" in message


# ---------------------------------------------------------------------------------------
# Files sent as they are


def _dataset_part(path) -> bytes:
    """The bytes of a Part 10 file after its file meta information."""
    from pynetdicom.dsutils import split_dataset

    _, offset = split_dataset(path)
    return path.read_bytes()[offset:]


def test_a_file_in_an_accepted_syntax_goes_byte_for_byte_without_decoding(
    storescp, tmp_path, monkeypatch
):
    paths = []
    for number, ds in enumerate(sc_objects(2, "jpeg-ls")):
        paths.append(tmp_path / f"{number}.dcm")
        ds.save_as(paths[-1], enforce_file_format=True)
    read = pydicom.dcmread

    def header_only(path, *args, **kwargs):
        assert kwargs.get("stop_before_pixels"), "the whole file was decoded"
        return read(path, *args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", header_only)
    report = store(paths, storescp.destination, SETTINGS)
    assert report.ok, report.error
    assert [o.transfer_syntax for o in report.outcomes] == [JPEGLSLossless] * 2
    got = {read(p).SOPInstanceUID: _dataset_part(p) for p in storescp.received()}
    assert got == {read(p).SOPInstanceUID: _dataset_part(p) for p in paths}


def test_a_file_sent_as_it_is_is_neither_decoded_nor_encoded(storescp, tmp_path, monkeypatch):
    """pynetdicom streams the file's dataset: it neither reads it (``dcmread``) nor
    encodes it again, whatever the process-wide ``STORE_SEND_CHUNKED_DATASET`` says."""
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", False)
    paths = []
    for number, ds in enumerate(sc_objects(2, "jpeg-ls")):
        paths.append(tmp_path / f"{number}.dcm")
        ds.save_as(paths[-1], enforce_file_format=True)
    read, encode = pynetdicom.association.dcmread, pynetdicom.association.encode
    decoded, encoded = [], []
    monkeypatch.setattr(
        pynetdicom.association, "dcmread", lambda *a, **k: decoded.append(a) or read(*a, **k)
    )
    monkeypatch.setattr(
        pynetdicom.association, "encode", lambda ds, *a: encoded.append(ds) or encode(ds, *a)
    )
    report = store(paths, storescp.destination, SETTINGS)
    assert report.ok, report.error
    assert [o.transfer_syntax for o in report.outcomes] == [JPEGLSLossless] * 2
    assert decoded == []
    assert not [ds for ds in encoded if "PixelData" in ds]
    got = {read(p).SOPInstanceUID: _dataset_part(p) for p in storescp.received()}
    assert got == {read(p).SOPInstanceUID: _dataset_part(p) for p in paths}


def test_a_store_file_has_only_its_meta_read_and_is_checked_against_it(
    storescp, tmp_path, monkeypatch
):
    objects = sc_objects(3)
    paths = []
    for number, ds in enumerate(objects):
        paths.append(tmp_path / f"{number}.dcm")
        ds.save_as(paths[-1], enforce_file_format=True)
    files = [
        StoreFile(p, ds.SOPClassUID, ds.SOPInstanceUID)
        for p, ds in zip(paths, objects, strict=True)
    ]
    # the outbox said another instance than the file's meta: it is read, not streamed
    files[2] = dataclasses.replace(files[2], sop_instance_uid=objects[0].SOPInstanceUID)
    files.append(StoreFile(tmp_path / "gone.dcm", objects[0].SOPClassUID, "1.2.3"))
    reads = []
    read = pydicom.dcmread
    monkeypatch.setattr(pydicom, "dcmread", lambda p, *a, **k: reads.append(p) or read(p))
    report = store(files, storescp.destination, SETTINGS)
    assert reads == [paths[2]]  # the two files the meta vouches for: never parsed
    assert [o.category for o in report.outcomes] == [SUCCESS] * 3 + [FAILURE]
    assert f"cannot read {tmp_path / 'gone.dcm'}" in report.outcomes[3].message
    assert len(storescp.received()) == 3


def test_a_file_the_peer_takes_only_transcoded_is_decoded(tmp_path):
    path = tmp_path / "a.dcm"
    sc_objects(1, "jpeg-ls")[0].save_as(path, enforce_file_format=True)
    pixels = []

    def status(number, ds):
        pixels.append(ds.PixelData)
        return 0

    with fake_scp(status) as peer:  # pynetdicom's default syntaxes: no JPEG-LS
        report = store([path], peer.destination, SETTINGS)
    assert report.ok, report.error
    assert report.outcomes[0].transfer_syntax == ExplicitVRLittleEndian
    assert pixels == [grey8(1).tobytes()]


def test_a_large_file_is_streamed_with_little_memory(storescp, tmp_path):
    """A 42 MB object goes from its file in PDU-sized pieces: Python's peak allocation
    while sending stays a small fraction of it (pynetdicom alone would queue it whole)."""
    import tracemalloc

    ds = sc_objects(1)[0]
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 4096, 5120, 16, 12, 11
    ds.PixelData = np.zeros(4096 * 5120, dtype="<u2").tobytes()
    path = tmp_path / "big.dcm"
    ds.save_as(path, enforce_file_format=True)
    size = path.stat().st_size
    del ds
    tracemalloc.start()
    try:
        report = store([path], storescp.destination, SETTINGS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.ok, report.error
    assert peak < size / 5, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB file"
    (received,) = storescp.received()
    assert received.stat().st_size > size - 1000
    assert _dataset_part(received) == _dataset_part(path)
