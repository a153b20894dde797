"""One study per session, headless: what a send fixes in the session, and what starts
a new study."""

from __future__ import annotations

import dataclasses

from napari_ezp2p._napari.session import Session
from napari_ezp2p._napari.study_session import edited, fresh_study, next_send, study_label
from napari_ezp2p.core.metadata import GENERATED_ISSUER, Metadata

PATIENT = Metadata(patient_name="FILM^FRIDA", accession_number="ACC-1", series_number=4)


def test_consecutive_sends_share_the_study_and_number_their_series():
    session = Session(metadata=PATIENT)
    first, second = next_send(session), next_send(session)
    for name in ("study_instance_uid", "study_date", "study_time", "study_id", "patient_id"):
        assert getattr(first, name) and getattr(first, name) == getattr(second, name), name
    assert first.issuer_of_patient_id == second.issuer_of_patient_id == GENERATED_ISSUER
    assert (first.series_number, second.series_number) == (4, 5)
    assert first.series_instance_uid == second.series_instance_uid == ""  # new at each send
    assert session.metadata.series_number == 6 and session.study.sends == 2
    assert study_label(session.metadata, session.study).startswith(
        "Study of this session: sent 2 times"
    )

    session.metadata = fresh_study(session)
    third = next_send(session)
    assert third.study_instance_uid != first.study_instance_uid
    assert third.patient_id == first.patient_id  # the same patient
    assert third.series_number == 4 and session.study.sends == 1


def test_a_series_attached_to_stays_that_series():
    session = Session(metadata=dataclasses.replace(PATIENT, series_instance_uid="1.2.3"))
    first, second = next_send(session), next_send(session)
    assert first.series_instance_uid == second.series_instance_uid == "1.2.3"
    assert first.series_number == second.series_number == 4


def test_a_patient_edit_after_sends_starts_a_new_study():
    session = Session(metadata=PATIENT)
    sent = next_send(session)
    before = session.metadata
    after = edited(session.study, before, dataclasses.replace(before, patient_name="SCAN^SAM"))
    assert after.study_instance_uid == after.study_date == after.accession_number == ""
    assert after.patient_id == after.issuer_of_patient_id == "", "the generated ID was Frida's"
    assert after.series_number == 4
    typed = edited(session.study, before, dataclasses.replace(before, patient_id="P-9"))
    assert (typed.patient_id, typed.issuer_of_patient_id, typed.study_instance_uid) == (
        "P-9",
        "",
        "",
    )
    # Not a patient field, or no send yet: the study stays.
    same = edited(session.study, before, dataclasses.replace(before, study_description="x"))
    assert same.study_instance_uid == sent.study_instance_uid
    renamed = dataclasses.replace(PATIENT, patient_name="B")
    assert edited(Session(metadata=PATIENT).study, PATIENT, renamed) == renamed


def test_a_queried_study_takes_a_correction_and_stays():
    picked = dataclasses.replace(
        PATIENT, study_instance_uid="1.2.9", queried={"StudyInstanceUID": "1.2.9"}
    )
    session = Session(metadata=picked)
    next_send(session)
    before = session.metadata
    after = edited(session.study, before, dataclasses.replace(before, patient_name="FILM^FREDA"))
    assert after.study_instance_uid == "1.2.9"
    assert "Sent 1 time this session" in study_label(after, session.study)


def test_metadata_that_cannot_be_written_leaves_the_session_alone():
    session = Session(metadata=dataclasses.replace(PATIENT, birth_date="nope"))
    assert next_send(session).study_instance_uid == ""
    assert session.study.sends == 0 and session.metadata.study_instance_uid == ""
