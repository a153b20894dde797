"""The local PACS behind ``ezp2p serve``: echo and store over real associations on
127.0.0.1, with pynetdicom and with dcmtk's echoscu/storescu as third-party clients."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_context
from pynetdicom.sop_class import SecondaryCaptureImageStorage, Verification

from napari_ezp2p.core.convert import write_atomically
from napari_ezp2p.core.identity import IMPLEMENTATION_CLASS_UID, new_uid
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.transfer import transfer_syntax
from napari_ezp2p.devpacs.errors import ServerError
from napari_ezp2p.devpacs.server import run_server
from tests.devpacs.helpers import associate, find, port_of, sc_objects, stored_files, study_query
from tests.peers import require_tool


def test_echo_with_pynetdicom_and_echoscu(start):
    server = start()
    assoc = associate(server, [build_context(Verification, ImplicitVRLittleEndian)])
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()
    result = subprocess.run(
        [require_tool("echoscu"), "-aec", "EZP2P-PACS", "127.0.0.1", str(port_of(server))],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr


def test_accepted_sockets_have_nagle_turned_off(start):
    server = start()
    assoc = associate(server, [build_context(Verification, ImplicitVRLittleEndian)])
    try:
        (accepted,) = server.active_associations
        sock = accepted.dul.socket.socket
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        assoc.release()


def test_store_in_three_syntaxes_lands_as_files_and_survives_restart(start, tmp_path):
    storage = tmp_path / "storage"
    server = run_server(storage, 0, block=False)
    meta = Metadata(
        patient_name="Doe^John",
        patient_id="P1",
        study_instance_uid=new_uid(),
        series_instance_uid=new_uid(),
    )
    objects = {
        key: sc_objects(key, meta, seed=n)[0]
        for n, key in enumerate(("explicit-le", "jpeg-ls", "rle"))
    }
    contexts = [
        build_context(SecondaryCaptureImageStorage, transfer_syntax(key).uid) for key in objects
    ]
    try:
        assoc = associate(server, contexts)
        for ds in objects.values():
            assert assoc.send_c_store(ds).Status == 0x0000
        # The same instance again replaces its file.
        assert assoc.send_c_store(objects["rle"]).Status == 0x0000
        assoc.release()
    finally:
        server.shutdown()

    files = stored_files(storage)
    assert len(files) == 3
    for key, ds in objects.items():
        path = storage / ds.StudyInstanceUID / ds.SeriesInstanceUID / f"{ds.SOPInstanceUID}.dcm"
        stored = dcmread(path)
        assert stored.file_meta.TransferSyntaxUID == transfer_syntax(key).uid
        assert stored.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert stored.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
        np.testing.assert_array_equal(stored.pixel_array, ds.pixel_array)
    assert not list(storage.rglob("*.part"))

    # A new server over the same folder rebuilds its index from the files.
    again = start(storage)
    ds = next(iter(objects.values()))
    found = find(
        again, study_query("SERIES", StudyInstanceUID="", NumberOfSeriesRelatedInstances="")
    )
    assert len(found) == 1
    assert found[0].StudyInstanceUID == ds.StudyInstanceUID
    assert found[0].NumberOfSeriesRelatedInstances == 3


def test_several_associations_at_once_store_one_series(start, tmp_path):
    from napari_ezp2p.net.destination import Destination, NetworkSettings
    from napari_ezp2p.net.store import store

    storage = tmp_path / "storage"
    server = start(storage)
    meta = Metadata(patient_name="Doe^Jane", study_instance_uid=new_uid())
    objects = sc_objects("explicit-le", meta, count=16)
    dest = Destination("local", "EZP2P-PACS", "127.0.0.1", port_of(server), associations=4)
    report = store(objects, dest, NetworkSettings(ae_title="TESTSCU"))
    assert report.ok, report.error
    assert len(stored_files(storage)) == 16
    (series,) = find(server, study_query("SERIES", NumberOfSeriesRelatedInstances=""))
    assert series.NumberOfSeriesRelatedInstances == 16


def test_storescu_stores_into_the_server(start, tmp_path):
    storage = tmp_path / "storage"
    server = start(storage)
    ds = sc_objects("explicit-le", Metadata(patient_name="Dcmtk^Sent", patient_id="P9"))[0]
    source = write_atomically(ds, tmp_path / "one.dcm")
    result = subprocess.run(
        [
            require_tool("storescu"),
            "-aec",
            "EZP2P-PACS",
            "127.0.0.1",
            str(port_of(server)),
            source,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    (path,) = stored_files(storage)
    assert path.name == f"{ds.SOPInstanceUID}.dcm"
    assert str(dcmread(path).PatientName) == "Dcmtk^Sent"


def test_an_object_without_valid_uids_is_refused_and_not_written(start, tmp_path):
    storage = tmp_path / "storage"
    server = start(storage)
    ds = sc_objects("explicit-le", Metadata(patient_id="P1"))[0]
    ds.StudyInstanceUID = "../../evil"
    assoc = associate(
        server, [build_context(SecondaryCaptureImageStorage, ExplicitVRLittleEndian)]
    )
    status = assoc.send_c_store(ds)
    assoc.release()
    assert status.Status == 0xC000
    assert not list(tmp_path.rglob("*.dcm"))


def test_a_taken_port_is_a_clear_error(start, tmp_path):
    server = start()
    with pytest.raises(ServerError, match="cannot listen on 127.0.0.1"):
        run_server(tmp_path / "other", port_of(server), block=False)


def test_blocking_server_stops_on_ctrl_c(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        "import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout);"
        "from napari_ezp2p.devpacs.server import run_server;"
        f"run_server({str(tmp_path / 'storage')!r}, {port}, block=True); print('stopped')"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        ae = AE(ae_title="TESTSCU")
        ae.add_requested_context(Verification)
        deadline = time.monotonic() + 30
        while True:
            assoc = ae.associate("127.0.0.1", port, ae_title="EZP2P-PACS")
            if assoc.is_established:
                assert assoc.send_c_echo().Status == 0x0000
                assoc.release()
                break
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert "listening on 127.0.0.1" in output
    assert output.rstrip().endswith("stopped")
