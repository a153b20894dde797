"""Metadata from query answers: attach to a study or a series, new study, clear."""

from __future__ import annotations

from pydicom import Dataset

from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.jobs.study import (
    FORM_FIELDS,
    attach,
    attachment,
    cleared,
    metadata_from_match,
    new_study,
    problem,
)
from tests.peers import worklist_item

JAPANESE = "Yamada^Tarou=山田^太郎=やまだ^たろう"


def test_a_worklist_item_fills_the_metadata_and_is_remembered():
    meta = metadata_from_match(worklist_item("DOE^JOHN", "ACC-2", study_uid="1.2.3"))
    assert (meta.patient_name, meta.patient_id, meta.accession_number) == (
        "DOE^JOHN",
        "WL-1",
        "ACC-2",
    )
    assert meta.study_instance_uid == "1.2.3"
    assert meta.study_description == "Film import"  # the requested procedure
    assert meta.modality == "OT"  # the first scheduled step's
    assert meta.queried["PatientID"] == "WL-1"


def test_a_series_pick_keeps_the_study_and_adds_the_series():
    study = attach(worklist_item("DOE^JOHN", "ACC-2", study_uid="1.2.3"), Metadata())
    series = Dataset()
    series.StudyInstanceUID = "1.2.3"
    series.SeriesInstanceUID = "1.2.3.4"
    series.SeriesNumber = "5"
    meta = attach(series, study, series=True)
    assert meta.patient_name == "DOE^JOHN" and meta.queried["PatientName"] == "DOE^JOHN"
    assert (meta.series_instance_uid, meta.series_number) == ("1.2.3.4", 5)


def test_a_pick_falls_back_to_utf8_when_the_charset_cannot_hold_the_name():
    current = Metadata(charset="ISO_IR 100", patient_name="OLD^NAME", body_part="CHEST")
    meta = attach(worklist_item(JAPANESE, "ACC-JP", study_uid="1.2.3"), current)
    assert meta.charset == "ISO_IR 192"
    assert meta.patient_name == JAPANESE and meta.body_part == "CHEST"
    fresh = new_study(meta)
    assert fresh.study_instance_uid == "" and fresh.accession_number == ""
    assert fresh.queried == {
        k: meta.queried[k] for k in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")
    }


def test_clear_puts_every_form_field_back_to_the_defaults():
    defaults = Metadata(institution_name="Here", series_number=2)
    picked = attach(worklist_item("DOE^JOHN", "ACC-2", study_uid="1.2.3"), defaults)
    meta = cleared(picked, defaults)
    assert {name: getattr(meta, name) for name in FORM_FIELDS} == {
        name: getattr(defaults, name) for name in FORM_FIELDS
    }
    assert meta.queried == {} and meta.study_time == ""


def test_problem_says_what_cannot_be_written():
    assert problem(Metadata()) == ""
    assert "PatientBirthDate" in problem(Metadata(birth_date="1970-01-01"))


def test_attachment_says_what_the_next_send_adds_to():
    assert attachment(Metadata()) == "New study: new UIDs at the next send."
    assert "existing study" in attachment(Metadata(study_instance_uid="1.2.3"))
    attached = Metadata(study_instance_uid="1.2.3", series_instance_uid="1.2.3.4")
    assert "existing series" in attachment(attached)


def test_a_pick_brings_the_issuer_the_series_dates_and_the_order():
    item = worklist_item("DOE^JOHN", "ACC-2", study_uid="1.2.3")
    item.IssuerOfPatientID = "HOSP"
    meta = attach(item, Metadata())
    assert meta.issuer_of_patient_id == "HOSP" and meta.queried["IssuerOfPatientID"] == "HOSP"
    assert (meta.request.RequestedProcedureID, meta.request.ScheduledProcedureStepID) == (
        "RP1",
        "SPS1",
    )
    series = Dataset()
    series.SeriesInstanceUID = "1.2.3.4"
    series.SeriesDate, series.SeriesTime = "20240102", "101500"
    picked = attach(series, meta, series=True)
    assert (picked.series_date, picked.series_time) == ("20240102", "101500")
    assert picked.request == meta.request  # the same order, one of its series
    study = Dataset()
    study.StudyInstanceUID = "1.2.9"
    assert attach(study, meta).request is None  # another study: no order
    assert new_study(meta).request is None
    assert cleared(meta, Metadata()).request is None


def test_attachment_says_what_of_an_existing_study_is_not_known():
    said = attachment(Metadata(study_instance_uid="1.2.3"))
    assert "Study Date and Study ID are not known" in said and "written empty" in said
    known = Metadata(study_instance_uid="1.2.3", study_date="20240102", study_id="S1")
    assert attachment(known) == "Attached to an existing study."


def test_an_order_the_charset_cannot_hold_is_a_problem_and_a_pick_falls_back_to_utf8():
    item = worklist_item("DOE^JOHN", "ACC-2", charset="ISO_IR 192")
    item.RequestedProcedureDescription = "フィルム取込"
    item.StudyDescription = "Films"
    meta = metadata_from_match(item, Metadata(charset="ISO_IR 100"))
    assert "RequestedProcedureDescription" in problem(meta)
    assert attach(item, Metadata(charset="ISO_IR 100")).charset == "ISO_IR 192"


def test_a_generated_patient_ids_issuer_goes_with_it_on_a_pick_or_clear():
    from napari_ezp2p.core.metadata import GENERATED_ISSUER

    generated = Metadata(patient_id="0987", issuer_of_patient_id=GENERATED_ISSUER)
    answer = Dataset()
    answer.PatientName, answer.PatientID, answer.StudyInstanceUID = "DOE^JANE", "P-7", "1.2.3"
    assert attach(answer, generated).issuer_of_patient_id == ""
    assert cleared(generated, Metadata()).issuer_of_patient_id == ""
