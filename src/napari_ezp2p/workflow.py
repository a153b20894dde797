"""Query answers as the metadata of the next send (moving to ``jobs.query``)."""

from __future__ import annotations

import dataclasses

from pydicom import Dataset

from .core.metadata import Metadata

#: Query/worklist answer keywords and the Metadata fields they fill.
_FROM_QUERY = {
    "PatientName": "patient_name",
    "PatientID": "patient_id",
    "PatientBirthDate": "birth_date",
    "PatientSex": "sex",
    "AccessionNumber": "accession_number",
    "ReferringPhysicianName": "referring_physician",
    "StudyInstanceUID": "study_instance_uid",
    "StudyID": "study_id",
    "StudyDate": "study_date",
    "StudyTime": "study_time",
    "StudyDescription": "study_description",
    "SeriesInstanceUID": "series_instance_uid",
    "SeriesDescription": "series_description",
    "BodyPartExamined": "body_part",
    "Modality": "modality",
}


def metadata_from_match(match: Dataset, base: Metadata | None = None) -> Metadata:
    """``base`` filled from a worklist item or a study/series query answer.

    Every value taken is remembered in ``queried``, so one changed afterwards is
    recorded as coerced in the object. A worklist item's Requested Procedure
    Description becomes the study description; its first scheduled step gives the
    modality.
    """
    values: dict[str, str] = {}
    for keyword in _FROM_QUERY:
        value = match.get(keyword)
        if value is not None and str(value):
            values[keyword] = str(value)
    if "StudyDescription" not in values and match.get("RequestedProcedureDescription"):
        values["StudyDescription"] = str(match.RequestedProcedureDescription)
    steps = match.get("ScheduledProcedureStepSequence") or []
    if "Modality" not in values and steps and steps[0].get("Modality"):
        values["Modality"] = str(steps[0].Modality)
    if "SeriesNumber" in match and str(match.SeriesNumber):
        series_number = int(match.SeriesNumber)
    else:
        series_number = (base or Metadata()).series_number
    fields = {_FROM_QUERY[keyword]: value for keyword, value in values.items()}
    return dataclasses.replace(
        base or Metadata(), **fields, series_number=series_number, queried=values
    )
