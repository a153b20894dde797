"""What the local PACS offers and to whom: its own called AE title, every storage
class, the deflated transfer syntax; with pynetdicom and dcmtk's echoscu as peers."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from pydicom import Dataset, dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import FileMetaDataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian
from pynetdicom import AE, AllStoragePresentationContexts, build_context
from pynetdicom.sop_class import (
    EncapsulatedSTLStorage,
    ExtensibleSRStorage,
    SecondaryCaptureImageStorage,
    Verification,
)

from napari_ezp2p.cli.parser import build_parser
from napari_ezp2p.core.identity import new_uid
from napari_ezp2p.devpacs.entity import STORAGE_CLASSES
from tests.devpacs.helpers import associate, port_of, stored_files
from tests.peers import require_tool


def _echoscu(server, called: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [require_tool("echoscu"), "-aec", called, "127.0.0.1", str(port_of(server))],
        capture_output=True,
        text=True,
        timeout=20,
    )


def _associate_as(server, called: str):
    ae = AE(ae_title="TESTSCU")
    ae.acse_timeout = ae.network_timeout = 10
    return ae.associate("127.0.0.1", port_of(server), [build_context(Verification)], called)


def test_another_called_ae_title_is_refused(start):
    server = start()
    assoc = _associate_as(server, "SOMEONE-ELSE")
    assert assoc.is_rejected
    assert _echoscu(server, "SOMEONE-ELSE").returncode != 0
    assert _echoscu(server, "EZP2P-PACS").returncode == 0


def test_any_called_ae_title_is_taken_when_asked(start):
    server = start(any_called_aet=True)
    assoc = _associate_as(server, "SOMEONE-ELSE")
    assert assoc.is_established
    assoc.release()
    result = _echoscu(server, "SOMEONE-ELSE")
    assert result.returncode == 0, result.stderr


def test_serve_options_parse():
    args = build_parser().parse_args(
        [
            "serve",
            "--storage",
            "s",
            "--any-called-aet",
            "--max-associations",
            "8",
            "--move-destination",
            "ORTHANC@127.0.0.1:4242",
            "--move-destination",
            "GETSCU@[::1]:11113",
        ]
    )
    assert args.any_called_aet and args.max_associations == 8
    assert [d.address for d in args.move_destinations] == [
        "ORTHANC@127.0.0.1:4242",
        "GETSCU@::1:11113",
    ]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--storage", "s", "--move-destination", "nowhere"])


def test_every_storage_class_pynetdicom_knows_is_offered():
    known = {c.abstract_syntax for c in AllStoragePresentationContexts}
    assert known <= set(STORAGE_CLASSES)
    assert len(known) > 128  # more than a requestor may propose at once: fine for an SCP


def _extensible_sr() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = ExtensibleSRStorage
    ds.SOPInstanceUID = new_uid()
    ds.StudyInstanceUID = new_uid()
    ds.SeriesInstanceUID = new_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "SR^Test", "SR1", "SR"
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "UNVERIFIED"
    concept = Dataset()
    concept.CodeValue, concept.CodingSchemeDesignator = "18748-4", "LN"
    concept.CodeMeaning = "Diagnostic Imaging Report"
    ds.ConceptNameCodeSequence = [concept]
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def _stl() -> Dataset:
    ds = _extensible_sr()
    ds.SOPClassUID = EncapsulatedSTLStorage
    ds.Modality = "M3D"
    ds.MIMETypeOfEncapsulatedDocument = "model/stl"
    ds.EncapsulatedDocument = b"solid x\nendsolid x\n"
    return ds


def test_classes_not_offered_before_are_stored(start, tmp_path):
    server = start()
    objects = [_extensible_sr(), _stl()]
    contexts = [build_context(ds.SOPClassUID, ExplicitVRLittleEndian) for ds in objects]
    assoc = associate(server, contexts)
    try:
        for ds in objects:
            assert assoc.send_c_store(ds).Status == 0x0000
    finally:
        assoc.release()
    stored = {dcmread(path).SOPInstanceUID for path in stored_files(tmp_path / "storage")}
    assert stored == {ds.SOPInstanceUID for ds in objects}


def test_a_deflated_data_set_is_stored(start, tmp_path):
    original = dcmread(get_testdata_file("image_dfl.dcm"))
    assert original.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    server = start()
    context = build_context(SecondaryCaptureImageStorage, DeflatedExplicitVRLittleEndian)
    assoc = associate(server, [context])
    try:
        assert assoc.is_established and assoc.accepted_contexts
        assert assoc.send_c_store(original).Status == 0x0000
    finally:
        assoc.release()
    (path,) = stored_files(tmp_path / "storage")
    stored = dcmread(path)
    assert stored.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    assert np.array_equal(stored.pixel_array, original.pixel_array)
