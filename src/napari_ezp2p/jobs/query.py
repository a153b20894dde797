"""Worklist and PACS queries: the keys a face's filters make, the C-FINDs, and the
cells that show the answers.

The ``ezp2p find``/``worklist`` commands and the Study dock fill a :class:`Filters`
and call :func:`query_worklist` or :func:`query_pacs` (the dock through
:func:`query_user_worklist` / :func:`query_user_pacs`, which read the user's config).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom import Dataset
from pydicom.multival import MultiValue

from ..config import load_user_config, resolve_destination, resolve_worklist
from ..net.destination import Destination, NetworkSettings
from ..net.query import QueryError, find_studies, find_worklist

#: Query levels: a Modality Worklist, and the study and series levels of Study Root.
LEVELS = ("worklist", "study", "series")


@dataclass(frozen=True)
class Filters:
    """What the user filters a query by; empty means "any" (universal matching).

    ``date`` is ``YYYYMMDD`` or a range ``A-B`` (the scheduled date for a worklist, the
    study date for a PACS); ``modality`` is matched by Modalities in Study at the study
    level. Values may hold the wildcards ``*`` and ``?``; UIDs may not.
    """

    patient_name: str = ""
    patient_id: str = ""
    accession: str = ""
    date: str = ""
    modality: str = ""
    study_description: str = ""
    study_uid: str = ""
    series_uid: str = ""
    station_aet: str = ""


#: For each level, the DICOM keyword each filter is matched by (filters a level does
#: not list do not apply to it).
_KEYWORDS = {
    "worklist": {
        "patient_name": "PatientName",
        "patient_id": "PatientID",
        "accession": "AccessionNumber",
        "date": "ScheduledProcedureStepStartDate",
        "modality": "Modality",
        "study_uid": "StudyInstanceUID",
        "station_aet": "ScheduledStationAETitle",
    },
    "study": {
        "patient_name": "PatientName",
        "patient_id": "PatientID",
        "accession": "AccessionNumber",
        "date": "StudyDate",
        "modality": "ModalitiesInStudy",
        "study_description": "StudyDescription",
        "study_uid": "StudyInstanceUID",
    },
    "series": {
        "modality": "Modality",
        "series_uid": "SeriesInstanceUID",
    },
}


def query_keys(filters: Filters, level: str) -> dict[str, str]:
    """The C-FIND keys of ``filters`` at ``level`` (one of :data:`LEVELS`), only those
    given. The series level has its own keys only: in a hierarchical Study Root query
    the study is named by its Study Instance UID alone (see :func:`query_series`)."""
    if level not in _KEYWORDS:
        raise QueryError(f"query level {level!r} is not one of {', '.join(LEVELS)}")
    given = {keyword: getattr(filters, name).strip() for name, keyword in _KEYWORDS[level].items()}
    return {keyword: value for keyword, value in given.items() if value}


def query_worklist(
    filters: Filters, dest: Destination, settings: NetworkSettings, fallback_charset: str
) -> list[Dataset]:
    """The worklist items of ``dest`` matching ``filters``; answers that declare no
    character set are read as ``fallback_charset``. Raises Ezp2pError with the reason."""
    return find_worklist(query_keys(filters, "worklist"), dest, settings, fallback_charset)


def query_pacs(
    filters: Filters, dest: Destination, settings: NetworkSettings, level: str = "study"
) -> list[Dataset]:
    """The studies (or, at ``level`` "series", the series) of ``dest`` matching
    ``filters``. Raises Ezp2pError with the reason."""
    if level == "series":
        return query_series(filters, dest, settings)
    if level != "study":
        raise QueryError(f"query level {level!r} is not study or series")
    if filters.series_uid.strip():
        raise QueryError("a Series Instance UID names a series: query the series level")
    return find_studies(query_keys(filters, "study"), dest, settings, "STUDY")


def query_series(filters: Filters, dest: Destination, settings: NetworkSettings) -> list[Dataset]:
    """The series matching ``filters``, queried hierarchically (Study Root, PS3.4 C.4.1.2.1):
    the studies matching the study-level filters first, then the series of each, named
    by its one Study Instance UID. When ``filters`` name one study by its UID and nothing
    else about it, its series are asked for at once."""
    study_keys = query_keys(filters, "study")
    if list(study_keys) == ["StudyInstanceUID"] and "\\" not in filters.study_uid:
        study_uids = [study_keys["StudyInstanceUID"]]
    else:
        studies = find_studies(study_keys, dest, settings, "STUDY")
        study_uids = list(dict.fromkeys(str(s.get("StudyInstanceUID", "")) for s in studies))
        study_uids = [uid for uid in study_uids if uid]
    series_keys = query_keys(filters, "series")
    return [
        series
        for uid in study_uids
        for series in find_studies(
            {**series_keys, "StudyInstanceUID": uid}, dest, settings, "SERIES"
        )
    ]


def query_user_worklist(server: str, filters: Filters) -> list[Dataset]:
    """:func:`query_worklist` of ``server`` (a configured name, ``AET@host:port``, or
    empty for the default worklist server) with the user's config."""
    config = load_user_config()
    dest = resolve_worklist(config, server)
    return query_worklist(filters, dest, config.network, config.worklist_fallback_charset)


def query_user_pacs(server: str, filters: Filters, level: str = "study") -> list[Dataset]:
    """:func:`query_pacs` of ``server`` (empty: the default destination) with the
    user's config."""
    config = load_user_config()
    return query_pacs(filters, resolve_destination(config, server), config.network, level)


# ----------------------------------------------------------------------------- answers

#: What tells studies apart: when, what, and how much they hold (the counts a PACS
#: answers at the study level; a worklist item has none yet).
STUDY_COLUMNS = (
    "Name",
    "ID",
    "Accession",
    "Date",
    "Time",
    "Description",
    "Modality",
    "Series",
    "Instances",
    "Study UID",
)
SERIES_COLUMNS = ("Series", "No.", "Modality", "Date", "Series UID")


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value)
    return str(value)


def _time(ds: Dataset, keyword: str) -> str:
    """A TM value as HH:MM:SS (or as much of it as is given), without the fraction."""
    text = _text(ds, keyword).split(".")[0].replace(":", "")
    if not text.isdigit():
        return text
    return ":".join(text[i : i + 2] for i in range(0, min(len(text), 6), 2))


def worklist_row(item: Dataset) -> list[str]:
    """Table cells of a worklist item (see :data:`STUDY_COLUMNS`)."""
    steps = item.get("ScheduledProcedureStepSequence") or [Dataset()]
    step = steps[0]
    return [
        _text(item, "PatientName"),
        _text(item, "PatientID"),
        _text(item, "AccessionNumber"),
        _text(step, "ScheduledProcedureStepStartDate"),
        _time(step, "ScheduledProcedureStepStartTime"),
        _text(item, "RequestedProcedureDescription"),
        _text(step, "Modality"),
        "",
        "",
        _text(item, "StudyInstanceUID"),
    ]


def study_row(study: Dataset) -> list[str]:
    """Table cells of a study answer (see :data:`STUDY_COLUMNS`)."""
    return [
        _text(study, "PatientName"),
        _text(study, "PatientID"),
        _text(study, "AccessionNumber"),
        _text(study, "StudyDate"),
        _time(study, "StudyTime"),
        _text(study, "StudyDescription"),
        _text(study, "ModalitiesInStudy"),
        _text(study, "NumberOfStudyRelatedSeries"),
        _text(study, "NumberOfStudyRelatedInstances"),
        _text(study, "StudyInstanceUID"),
    ]


def series_row(series: Dataset) -> list[str]:
    """Table cells of a series answer (see :data:`SERIES_COLUMNS`)."""
    return [
        _text(series, "SeriesDescription"),
        _text(series, "SeriesNumber"),
        _text(series, "Modality"),
        _text(series, "SeriesDate"),
        _text(series, "SeriesInstanceUID"),
    ]


#: The row maker of each level's answers, and the columns it fills.
ROWS = {
    "worklist": (worklist_row, STUDY_COLUMNS),
    "study": (study_row, STUDY_COLUMNS),
    "series": (series_row, SERIES_COLUMNS),
}
