"""The index of what the local PACS holds, and its Study Root answers.

Kept in memory, rebuilt from the storage folder
(``STORAGE/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``) at start-up,
skipping with a logged reason any file that cannot be read, and updated as objects are
stored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydicom import Dataset

from ..core.dicom_check import DicomCheckError, read_checked
from .matching import answer_keys, element_values, key_matcher, new_element, query_text, within

logger = logging.getLogger(__name__)

#: What the index keeps, per query level; each level also matches the ones above it.
STUDY_KEYS = (
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "StudyID",
    "StudyInstanceUID",
    "ReferringPhysicianName",
    "StudyDescription",
    "InstitutionName",
)
SERIES_KEYS = (
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDate",
    "SeriesTime",
    "SeriesDescription",
    "Modality",
    "BodyPartExamined",
    "StationName",
)
IMAGE_KEYS = ("SOPInstanceUID", "SOPClassUID", "InstanceNumber", "ContentDate", "ContentTime")
_STUDY_COMPUTED = (
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)
_SERIES_COMPUTED = ("NumberOfSeriesRelatedInstances",)
_COMMON = ("RetrieveAETitle", "InstanceAvailability")
PATIENT_KEYS = ("PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex")
_PATIENT_COMPUTED = (
    "NumberOfPatientRelatedStudies",
    "NumberOfPatientRelatedSeries",
    "NumberOfPatientRelatedInstances",
)
#: The spec lists Body Part Examined at study level: answer it there from the series.
LEVEL_KEYS = {
    "PATIENT": frozenset(PATIENT_KEYS + _PATIENT_COMPUTED + _COMMON),
    "STUDY": frozenset(STUDY_KEYS + _STUDY_COMPUTED + _COMMON + ("BodyPartExamined",)),
    "SERIES": frozenset(STUDY_KEYS + _STUDY_COMPUTED + SERIES_KEYS + _SERIES_COMPUTED + _COMMON),
    "IMAGE": frozenset(
        STUDY_KEYS + _STUDY_COMPUTED + SERIES_KEYS + _SERIES_COMPUTED + IMAGE_KEYS + _COMMON
    ),
}


@dataclass
class _Instance:
    path: Path
    attributes: dict[str, list[str]]


def record_of(ds: Dataset) -> dict[str, list[str]]:
    """What the index keeps of ``ds`` (raises what pydicom raises on a value it cannot
    decode: check the data set first)."""
    record = {}
    for keyword in (*STUDY_KEYS, *SERIES_KEYS, *IMAGE_KEYS):
        elem = ds.get(keyword)
        record[keyword] = element_values(elem) if elem is not None else []
    return record


class StoredIndex:
    """The study/series/instance attributes of the objects under ``storage``."""

    def __init__(self, storage: Path, ae_title: str) -> None:
        self.storage = storage
        self.ae_title = ae_title
        self._instances: dict[str, _Instance] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._instances)

    def rebuild(self) -> int:
        """Read every ``*/*/*.dcm`` under storage (headers only); the number indexed."""
        instances = {}
        for path in sorted(self.storage.glob("*/*/*.dcm")):
            try:
                record = record_of(read_checked(path, stop_before_pixels=True))
            except DicomCheckError as error:
                logger.warning("skipping %s: %s", path, error)
                continue
            instances[record["SOPInstanceUID"][0]] = _Instance(path, record)
        with self._lock:
            self._instances = instances
        return len(instances)

    def add(self, path: Path, record: dict[str, list[str]]) -> None:
        """Index the file at ``path``, which holds ``record`` (from :func:`record_of`)."""
        with self._lock:
            self._instances[record["SOPInstanceUID"][0]] = _Instance(path, record)

    def records(self, level: str) -> list[dict[str, list[str]]]:
        """One attribute record per patient, study, series or instance, with computed
        keys."""
        if level == "PATIENT":
            return _patients(self.records("STUDY"))
        with self._lock:
            instances = [inst.attributes for inst in self._instances.values()]
        series: dict[str, list[dict[str, list[str]]]] = {}
        for inst in instances:
            series.setdefault(_first(inst, "SeriesInstanceUID"), []).append(inst)
        studies: dict[str, list[list[dict[str, list[str]]]]] = {}
        for members in series.values():
            studies.setdefault(_first(members[0], "StudyInstanceUID"), []).append(members)

        common = {"RetrieveAETitle": [self.ae_title], "InstanceAvailability": ["ONLINE"]}
        out = []
        for study_series in studies.values():
            study_instances = [inst for members in study_series for inst in members]
            modalities = sorted({m for inst in study_instances for m in inst["Modality"]})
            body_parts = sorted({b for inst in study_instances for b in inst["BodyPartExamined"]})
            study = {
                **{key: study_series[0][0][key] for key in STUDY_KEYS},
                "ModalitiesInStudy": modalities,
                "NumberOfStudyRelatedSeries": [str(len(study_series))],
                "NumberOfStudyRelatedInstances": [str(len(study_instances))],
                **common,
            }
            if level == "STUDY":
                out.append({**study, "BodyPartExamined": body_parts})
                continue
            for members in study_series:
                series_record = {
                    **study,
                    **{key: members[0][key] for key in SERIES_KEYS},
                    "NumberOfSeriesRelatedInstances": [str(len(members))],
                }
                if level == "SERIES":
                    out.append(series_record)
                    continue
                for inst in members:
                    out.append({**series_record, **{key: inst[key] for key in IMAGE_KEYS}})
        return out

    def answers(self, query: Dataset, level: str, deadline: float) -> Iterator[Dataset]:
        """The answers to a query at ``level`` (one of LEVEL_KEYS), until
        ``time.monotonic()`` passes ``deadline`` (then SearchTimeout)."""
        known = LEVEL_KEYS[level]
        keys = answer_keys(query)
        tests = [
            (keyword, key_matcher(vr, query_text(query[tag])))
            for tag, keyword, vr in keys
            if keyword in known and keyword != "QueryRetrieveLevel"
        ]
        for record in within(self.records(level), deadline):
            if not all(test(record.get(keyword, [])) for keyword, test in tests):
                continue
            answer = Dataset()
            for tag, keyword, vr in keys:
                if keyword == "QueryRetrieveLevel":
                    answer.QueryRetrieveLevel = level
                else:
                    answer.add(new_element(tag, vr, record.get(keyword, [])))
            yield answer


def _first(record: dict[str, list[str]], keyword: str) -> str:
    values = record.get(keyword) or [""]
    return values[0]


def _patients(studies: list[dict[str, list[str]]]) -> list[dict[str, list[str]]]:
    """One record per patient (Patient ID and issuer) of these study records, with its
    counts."""
    patients: dict[tuple[str, ...], list[dict[str, list[str]]]] = {}
    for study in studies:
        key = (*study["PatientID"], "|", *study["IssuerOfPatientID"])
        patients.setdefault(key, []).append(study)
    records = []
    for members in patients.values():
        series = sum(int(s["NumberOfStudyRelatedSeries"][0]) for s in members)
        instances = sum(int(s["NumberOfStudyRelatedInstances"][0]) for s in members)
        records.append(
            {
                **{key: members[0][key] for key in PATIENT_KEYS + _COMMON},
                "NumberOfPatientRelatedStudies": [str(len(members))],
                "NumberOfPatientRelatedSeries": [str(series)],
                "NumberOfPatientRelatedInstances": [str(instances)],
            }
        )
    return records
