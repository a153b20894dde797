"""What a send needs of the existing study (or series) it joins, asked of the PACS.

An object added to a study must carry that study's Study Date, Time and ID, and one
added to a series the series' date, time, number and modality. When only the UIDs are
given (``ezp2p send --study-uid/--series-uid``), :func:`with_existing` takes them from a
C-FIND of the PACS; what it cannot learn is named, never made up.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from pydicom import Dataset

from ..core.errors import Ezp2pError
from ..core.metadata import Metadata
from ..net.destination import Destination, NetworkSettings
from .query import Filters, query_pacs
from .study import FROM_QUERY, metadata_from_match

#: The study values an object joining it needs, by keyword (the Metadata field).
STUDY_NEEDS = {"StudyDate": "study_date", "StudyTime": "study_time", "StudyID": "study_id"}
#: The series values an object joining it needs.
SERIES_NEEDS = ("SeriesDate", "SeriesTime", "SeriesNumber")
#: What a series answer sets whatever ``meta`` says: one series has one number and modality.
_SERIES_OWN = ("series_date", "series_time", "series_number", "modality")


class Existing(NamedTuple):
    """``meta`` completed from the PACS; the keywords still not known, and why."""

    meta: Metadata
    missing: tuple[str, ...] = ()
    reason: str = ""


def with_existing(meta: Metadata, dest: Destination, settings: NetworkSettings) -> Existing:
    """``meta`` with what ``dest`` knows of the study and series it names.

    The study's empty values (patient, date, time, ID, description...) come from its
    study-level answer; a given series' date, time, number and modality from its series
    answer. A worklist item's study that the PACS does not hold yet is a new study: it
    needs nothing. Nothing is asked when ``meta`` names no study.
    """
    uid = meta.study_instance_uid
    if not uid:
        return Existing(meta)
    reason = ""
    try:
        studies = query_pacs(Filters(study_uid=uid), dest, settings, "study")
        series = []
        if studies and meta.series_instance_uid:
            filters = Filters(study_uid=uid, series_uid=meta.series_instance_uid)
            series = query_pacs(filters, dest, settings, "series")
    except Ezp2pError as error:
        studies, series, reason = [], [], f"the query of {dest.name} failed: {error}"
    if studies:
        meta = _filled(meta, studies[0], (), skip=("body_part",))  # the new series' own
    elif not reason:
        reason = f"{dest.name} ({dest.address}) has no study {uid}"
    if series:
        meta = _filled(meta, series[0], _SERIES_OWN)
    elif meta.series_instance_uid and not reason:
        reason = f"{dest.name} ({dest.address}) has no series {meta.series_instance_uid}"
    if not studies and meta.request is not None:
        return Existing(meta)  # the study the worklist schedules is made now
    missing = _missing(meta, series_answered=bool(series))
    return Existing(meta, missing, reason if missing else "")


def unasked(meta: Metadata) -> Existing:
    """``meta`` as it is when no PACS is asked (``ezp2p convert``): what it lacks of the
    existing study (series) it names. A worklist item's study is made now."""
    if not meta.study_instance_uid or meta.request is not None:
        return Existing(meta)
    missing = _missing(meta, series_answered=False)
    return Existing(meta, missing, "no PACS is asked for the study" if missing else "")


def _missing(meta: Metadata, series_answered: bool) -> tuple[str, ...]:
    """The keywords of the existing study (and unanswered series) ``meta`` lacks."""
    missing = [keyword for keyword, name in STUDY_NEEDS.items() if not getattr(meta, name)]
    if meta.series_instance_uid and not series_answered:
        missing += SERIES_NEEDS
    return tuple(missing)


def _filled(
    meta: Metadata, answer: Dataset, own: tuple[str, ...], skip: tuple[str, ...] = ()
) -> Metadata:
    """``meta``'s empty fields (and those of ``own``) but ``skip`` with the values
    ``answer`` has; those taken are remembered as queried."""
    base = Metadata(series_number=meta.series_number, modality=meta.modality)
    found = metadata_from_match(answer, base)
    names = {*FROM_QUERY.values(), "series_number"} - set(skip)
    fields = {
        name: getattr(found, name)
        for name in names
        if getattr(found, name) and (name in own or not getattr(meta, name))
    }
    taken = {
        keyword: value for keyword, value in found.queried.items() if FROM_QUERY[keyword] in fields
    }
    return dataclasses.replace(meta, **fields, queried={**taken, **meta.queried})
