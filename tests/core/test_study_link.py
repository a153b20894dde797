"""Objects attached to an existing study, series or worklist order (issue 11)."""

import io
from datetime import datetime

import numpy as np
from PIL import Image
from pydicom import Dataset, dcmread

from napari_ezp2p.core.convert import write_atomically
from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.pdf import build_encapsulated_pdf
from napari_ezp2p.core.request import request_item
from napari_ezp2p.core.sc import build_sc, complete_metadata
from napari_ezp2p.core.transfer import transfer_syntax
from tests.peers import dciodvfy_errors, worklist_item

NOW = datetime(2026, 11, 29, 15, 30, 12)
IMAGE = SourceImage.from_array((np.arange(48 * 64) % 256).astype(np.uint8).reshape(48, 64))
STUDY_UID = "1.2.826.0.1.3680043.8.498.77"
SERIES_UID = "1.2.826.0.1.3680043.8.498.78"


def _written(meta: Metadata, tmp_path, name="object.dcm") -> Dataset:
    ds = build_sc(IMAGE, complete_metadata(meta, NOW), transfer_syntax("explicit-le"), now=NOW)
    path = write_atomically(ds, tmp_path / name)
    assert dciodvfy_errors(path) == []
    return dcmread(path)


def test_a_new_study_and_series_are_dated_now(tmp_path):
    ds = _written(Metadata(patient_name="DOE^JANE", birth_date="19840229"), tmp_path)
    assert (ds.StudyDate, ds.StudyTime, ds.StudyID) == ("20261129", "153012", "1")
    assert (ds.SeriesDate, ds.SeriesTime) == ("20261129", "153012")
    assert ds.PatientAge == "042Y"


def test_an_existing_study_of_unknown_date_is_written_empty_not_today(tmp_path):
    meta = Metadata(patient_name="DOE^JANE", birth_date="19840229", study_instance_uid=STUDY_UID)
    ds = _written(meta, tmp_path)
    assert (ds.StudyDate, ds.StudyTime, ds.StudyID) == ("", "", "")
    assert "PatientAge" not in ds  # no study date to be old at
    assert (ds.SeriesDate, ds.SeriesTime) == ("20261129", "153012")  # a new series in it


def test_an_existing_series_keeps_its_date_or_leaves_it_out(tmp_path):
    meta = Metadata(study_instance_uid=STUDY_UID, series_instance_uid=SERIES_UID)
    assert "SeriesDate" not in _written(meta, tmp_path, "unknown.dcm")
    meta = Metadata(
        study_instance_uid=STUDY_UID,
        series_instance_uid=SERIES_UID,
        study_date="20240102",
        series_date="20240102",
        series_time="101500",
    )
    ds = _written(meta, tmp_path, "known.dcm")
    assert (ds.SeriesDate, ds.SeriesTime, ds.StudyDate) == ("20240102", "101500", "20240102")


def _order() -> Dataset:
    item = worklist_item("DOE^JANE", "ACC-9", charset="ISO_IR 192", study_uid=STUDY_UID)
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "RPX", "99EZP", "Film import"
    item.RequestedProcedureCodeSequence = [code]
    protocol = Dataset()
    protocol.CodeValue, protocol.CodingSchemeDesignator = "SPX", "99EZP"
    protocol.CodeMeaning = "Scan films"
    item.ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence = [protocol]
    return item


def test_the_worklist_order_goes_in_the_request_attributes_sequence(tmp_path):
    meta = Metadata(
        patient_name="DOE^JANE",
        accession_number="ACC-9",
        study_instance_uid=STUDY_UID,
        request=request_item(_order()),
    )
    ds = _written(meta, tmp_path)
    (request,) = ds.RequestAttributesSequence
    assert request.RequestedProcedureID == "RP1"
    assert request.RequestedProcedureDescription == "Film import"
    assert request.RequestedProcedureCodeSequence[0].CodeValue == "RPX"
    assert request.ScheduledProcedureStepID == "SPS1"
    assert request.ScheduledProcedureStepDescription == "scan films"
    assert request.ScheduledProtocolCodeSequence[0].CodeMeaning == "Scan films"
    assert request.AccessionNumber == ds.AccessionNumber == "ACC-9"
    # the study the worklist schedules is made now
    assert (ds.StudyDate, ds.StudyID) == ("20261129", "RP1")


def test_a_study_or_series_answer_is_no_order():
    study = Dataset()
    study.StudyInstanceUID = STUDY_UID
    study.AccessionNumber = "ACC-9"
    assert request_item(study) is None


def _pdf() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (100, 80), "white").save(buffer, format="PDF", resolution=72)
    return buffer.getvalue()


def test_what_we_changed_to_fit_is_coerced_and_what_the_operator_typed_is_corrected(tmp_path):
    meta = Metadata(
        patient_name="DOE^JANET",
        modality="OT",
        queried={"PatientName": "DOE^JANE", "Modality": "OT"},
    )
    ds = build_encapsulated_pdf(_pdf(), meta, now=NOW)
    path = write_atomically(ds, tmp_path / "doc.dcm")
    assert dciodvfy_errors(path) == []
    items = {
        item.ReasonForTheAttributeModification: item.ModifiedAttributesSequence[0]
        for item in dcmread(path).OriginalAttributesSequence
    }
    assert set(items) == {"CORRECT", "COERCE"}
    assert items["CORRECT"].PatientName == "DOE^JANE" and "Modality" not in items["CORRECT"]
    assert items["COERCE"].Modality == "OT" and "PatientName" not in items["COERCE"]
