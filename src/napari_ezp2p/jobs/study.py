"""Who and what the next send is about: metadata filled from a query answer, attached
to its study or series, started afresh, and checked.

The Study dock edits these fields; ``ezp2p send --from-worklist`` and the reader of
our own files fill metadata from a dataset with :func:`metadata_from_match`.
"""

from __future__ import annotations

import dataclasses

from pydicom import Dataset

from ..core.errors import Ezp2pError
from ..core.metadata import DEFAULT_CHARSET, Metadata, charset_terms, check_metadata
from ..core.request import check_request, request_item

#: Query/worklist answer keywords and the Metadata fields they fill.
FROM_QUERY = {
    "PatientName": "patient_name",
    "PatientID": "patient_id",
    "IssuerOfPatientID": "issuer_of_patient_id",
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
    "SeriesDate": "series_date",
    "SeriesTime": "series_time",
    "BodyPartExamined": "body_part",
    "Laterality": "laterality",
    "Modality": "modality",
}


def metadata_from_match(match: Dataset, base: Metadata | None = None) -> Metadata:
    """``base`` filled from a worklist item or a study/series query answer.

    Every value taken is remembered in ``queried``, so one changed afterwards is
    recorded in the object's Original Attributes Sequence. A worklist item's Requested
    Procedure Description becomes the study description; its first scheduled step gives
    the modality; its order becomes ``request`` (``core.request``).
    """
    values: dict[str, str] = {}
    for keyword in FROM_QUERY:
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
    fields = {FROM_QUERY[keyword]: value for keyword, value in values.items()}
    base = base or Metadata()
    return dataclasses.replace(
        base,
        **fields,
        series_number=series_number,
        queried=values,
        request=request_item(match) or base.request,
    )


#: Metadata fields that belong to the patient, kept by "New study".
PATIENT_FIELDS = ("patient_name", "patient_id", "birth_date", "sex")
#: Fields that belong to one study (and its series), cleared by "New study".
STUDY_FIELDS = (
    "accession_number",
    "referring_physician",
    "study_description",
    "study_id",
    "study_instance_uid",
    "study_date",
    "study_time",
    "series_instance_uid",
    "series_date",
    "series_time",
)
#: The fields the Study form edits, in groups, in the order it shows them.
FORM_GROUPS = (
    ("Patient", PATIENT_FIELDS),
    (
        "Study",
        (
            "accession_number",
            "referring_physician",
            "study_description",
            "study_id",
            "study_date",
            "study_instance_uid",
        ),
    ),
    (
        "Series",
        (
            "series_description",
            "series_number",
            "series_instance_uid",
            "modality",
            "body_part",
            "laterality",
        ),
    ),
    ("Object", ("charset", "institution_name", "station_name", "burned_in_annotation")),
)
FORM_FIELDS = tuple(name for _, names in FORM_GROUPS for name in names)
_PATIENT_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")
#: The patient's values a new patient (a study picked, Clear) leaves empty: the form's,
#: and the issuer of a Patient ID (a generated one's must not stay with a typed one).
_PATIENT_VALUES = (*PATIENT_FIELDS, "issuer_of_patient_id")


def attach(match: Dataset, current: Metadata, *, series: bool = False) -> Metadata:
    """``current`` attached to the study (or, with ``series``, the series) of ``match``.

    A study-level pick replaces the patient and study values and starts a new series
    in that study; a series pick keeps the study and adds the series' values. When the
    chosen character set cannot hold the answer's names, UTF-8 is used instead.
    """
    if series:
        meta = metadata_from_match(match, current)
        meta = dataclasses.replace(meta, queried={**current.queried, **meta.queried})
    else:
        blank = dict.fromkeys((*_PATIENT_VALUES, *STUDY_FIELDS), "")
        fresh = dataclasses.replace(current, **blank, queried={}, request=None)
        meta = metadata_from_match(match, fresh)
    if meta.charset != DEFAULT_CHARSET and problem(meta):
        utf8 = dataclasses.replace(meta, charset=DEFAULT_CHARSET)
        if not problem(utf8):
            return utf8
    return meta


def new_study(meta: Metadata) -> Metadata:
    """``meta`` for a new study of the same patient: new UIDs at the next send, no
    study values; the patient's queried values stay so that edits show as coerced."""
    queried = {k: v for k, v in meta.queried.items() if k in _PATIENT_KEYWORDS}
    return dataclasses.replace(
        meta, **dict.fromkeys(STUDY_FIELDS, ""), queried=queried, request=None
    )


def cleared(meta: Metadata, defaults: Metadata) -> Metadata:
    """``meta`` with every form value back to ``defaults`` (nothing attached)."""
    names = dict.fromkeys((*FORM_FIELDS, *STUDY_FIELDS, *_PATIENT_VALUES))
    values = {name: getattr(defaults, name) for name in names}
    return dataclasses.replace(meta, **values, queried={}, request=None)


def attachment(meta: Metadata) -> str:
    """What the next send of ``meta`` adds to: an existing study or series, or a new
    study; and what of an existing study is not known (then written empty)."""
    if not meta.study_instance_uid:
        return "New study: new UIDs at the next send."
    what = "series" if meta.series_instance_uid else "study"
    unknown = [
        keyword
        for keyword, name in (("Study Date", "study_date"), ("Study ID", "study_id"))
        if not getattr(meta, name)
    ]
    if meta.request is not None or not unknown:
        return f"Attached to an existing {what}."
    return (
        f"Attached to an existing {what}; its {' and '.join(unknown)} are not known and "
        "will be written empty: pick the study from a PACS query to take them."
    )


def problem(meta: Metadata) -> str:
    """Why ``meta`` cannot be written, or "" when it can."""
    try:
        check_metadata(meta)
        check_request(meta.request, charset_terms(meta.charset))
    except Ezp2pError as error:
        return str(error)
    return ""
