"""Study Root C-FIND and Modality Worklist C-FIND as SCU: the identifiers we send, the
answers we decode.

The queries return their matches or raise :class:`NetworkError` (association failures) /
:class:`QueryError` (a failure status from the peer, or a query that cannot be sent).
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Mapping, Sequence
from io import BytesIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pydicom.uid import UID
from pynetdicom.sop_class import (
    ModalityWorklistInformationFind,
    StudyRootQueryRetrieveInformationModelFind,
)
from pynetdicom.status import MODALITY_WORKLIST_SERVICE_CLASS_STATUS, QR_FIND_SERVICE_CLASS_STATUS

from .association import NATIVE_SYNTAXES, NetworkError, Session, contexts_for, no_response, release
from .destination import Destination, NetworkSettings


class QueryError(NetworkError):
    """A C-FIND the peer answered with a failure status, or a query that cannot be sent."""


#: Study Root keys of the spec (4.1.2.3.3), sent empty (universal matching) unless given,
#: and the counts of the study's series and instances (optional return keys, PS3.4
#: C.6.2.1.2) that tell one study from another in a list.
STUDY_KEYS = (
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyID",
    "StudyInstanceUID",
    "ModalitiesInStudy",
    "ReferringPhysicianName",
    "StudyDescription",
    "BodyPartExamined",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)
SERIES_KEYS = (
    "SeriesDescription",
    "Modality",
    "SeriesNumber",
    "SeriesDate",
    "SeriesTime",
    "SeriesInstanceUID",
    "StudyInstanceUID",
)
#: Modality Worklist keys of the spec, with those of the order the object carries
#: (``core.request``); SPS_KEYS go in the Scheduled Procedure Step item.
WORKLIST_KEYS = (
    "AccessionNumber",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "ReferringPhysicianName",
    "StudyID",
    "RequestedProcedureDescription",
    "RequestedProcedureID",
    "RequestedProcedureCodeSequence",
)
SPS_KEYS = (
    "ScheduledStationAETitle",
    "ScheduledProcedureStepStartDate",
    "ScheduledProcedureStepStartTime",
    "Modality",
    "ScheduledProcedureStepID",
    "ScheduledProcedureStepDescription",
    "ScheduledProtocolCodeSequence",
)

_RANGE = {
    "DA": re.compile(r"^(\d{8})?(-(\d{8})?)?$"),
    "TM": re.compile(r"^([\d.:]*)(-[\d.:]*)?$"),
}

Query = Mapping[str, object] | Dataset


def find_studies(
    query: Query,
    dest: Destination,
    settings: NetworkSettings,
    level: str = "STUDY",
    *,
    charset: str = "ISO_IR 192",
) -> list[Dataset]:
    """Study Root C-FIND at ``level`` ("STUDY" or "SERIES"): the matches, in order.

    ``query`` maps DICOM keywords to values: a single value, a wildcard (``*``, ``?``),
    a range ``A-B`` for dates and times; every key of the spec's table that is not given
    is sent empty (universal matching). Other keywords are sent as given.
    Raises NetworkError / QueryError.
    """
    level = level.upper()
    keys = {"STUDY": STUDY_KEYS, "SERIES": SERIES_KEYS}.get(level)
    if keys is None:
        raise QueryError(f"query level {level!r} is not STUDY or SERIES")
    identifier = _identifier(query, keys, (), charset)
    identifier.QueryRetrieveLevel = level
    return _find(identifier, StudyRootQueryRetrieveInformationModelFind, dest, settings, None)


def find_worklist(
    query: Query,
    dest: Destination,
    settings: NetworkSettings,
    fallback_charset: str = "ISO_IR 100",
    *,
    charset: str = "ISO_IR 192",
) -> list[Dataset]:
    """Modality Worklist C-FIND: the scheduled procedure steps matching ``query``.

    Scheduled Station AE Title, Scheduled Procedure Step Start Date/Time and Modality may
    be given at the top level of ``query``: they go into the Scheduled Procedure Step
    Sequence item. Answers that declare no Specific Character Set are decoded with
    ``fallback_charset``. Raises NetworkError / QueryError.
    """
    identifier = _identifier(query, WORKLIST_KEYS, SPS_KEYS, charset)
    return _find(identifier, ModalityWorklistInformationFind, dest, settings, fallback_charset)


def _identifier(
    query: Query, keys: Sequence[str], sps_keys: Sequence[str], charset: str
) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = charset
    values: dict[str, object] = (
        {e.keyword: e.value for e in query if e.keyword}
        if isinstance(query, Dataset)
        else dict(query)
    )
    values.pop("SpecificCharacterSet", None)
    values.pop("QueryRetrieveLevel", None)
    sps = Dataset()
    for keyword in keys:
        setattr(ds, keyword, "")
    for keyword in sps_keys:
        setattr(sps, keyword, "")
    for keyword, value in values.items():
        if keyword == "ScheduledProcedureStepSequence" and sps_keys:
            given = value[0] if isinstance(value, list | tuple) and value else value
            if isinstance(given, Dataset):
                for element in given:
                    sps.add(copy.deepcopy(element))
            continue
        if keyword not in pydicom.datadict.keyword_dict:
            raise QueryError(f"query key {keyword!r} is not a DICOM keyword")
        target = sps if keyword in sps_keys else ds
        try:
            setattr(target, keyword, _checked(keyword, value))
        except (ValueError, TypeError) as error:
            raise QueryError(f"query key {keyword}: {error}") from None
    if sps_keys:
        ds.ScheduledProcedureStepSequence = [sps]
    return ds


def _checked(keyword: str, value: object) -> object:
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    vr = pydicom.datadict.dictionary_VR(keyword)
    pattern = _RANGE.get(vr)
    if pattern and value and "*" not in value and "?" not in value and not pattern.match(value):
        raise ValueError(f"{value!r} is not a {vr} value or range (A-B, A-, -B)")
    return value


def _find(
    identifier: Dataset,
    model: str,
    dest: Destination,
    settings: NetworkSettings,
    fallback_charset: str | None,
) -> list[Dataset]:
    session = Session(dest, settings)
    session.keep_identifiers = fallback_charset is not None
    assoc = session.open(contexts_for(model, NATIVE_SYNTAXES))
    statuses = (
        MODALITY_WORKLIST_SERVICE_CLASS_STATUS
        if fallback_charset is not None
        else QR_FIND_SERVICE_CLASS_STATUS
    )
    matches: list[Dataset] = []
    sent = time.perf_counter()
    try:
        for status, answer in assoc.send_c_find(identifier, model):
            code = status.get("Status")
            if code is None:
                waited = time.perf_counter() - sent
                raise NetworkError(no_response(session, dest, settings, waited))
            if code in (0xFF00, 0xFF01):
                if answer is not None and fallback_charset is None:
                    matches.append(answer)
                elif answer is not None:
                    raw, syntax = session.identifiers[len(matches)]
                    matches.append(_decoded(raw, syntax, fallback_charset))
                sent = time.perf_counter()
                continue
            if code == 0x0000:
                break
            category, text = statuses.get(code, ("Failure", "Failure"))
            if category in ("Failure", "Cancel") or code not in statuses:
                comment = status.get("ErrorComment")
                raise QueryError(
                    f"{dest.name} ({dest.address}) answered the C-FIND with 0x{code:04X} "
                    f"{text}" + (f": {comment}" if comment else "")
                )
    finally:
        release(assoc)
    return matches


def _decoded(raw: bytes, syntax: UID, fallback_charset: str) -> Dataset:
    """An identifier decoded from its raw bytes in the charset it declares, or else in
    ``fallback_charset`` (which it then declares). pynetdicom's own decoding may already
    have turned bytes into text in the default repertoire, so it is not used."""
    answer = read_dataset(BytesIO(raw), syntax.is_implicit_VR, syntax.is_little_endian)
    if not answer.get("SpecificCharacterSet"):
        answer.SpecificCharacterSet = fallback_charset
    answer.decode()
    return answer
