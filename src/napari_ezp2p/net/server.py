"""A small local PACS for trying things out: the server behind ``ezp2p serve``.

It listens on 127.0.0.1 unless told otherwise and offers:

- Verification (C-ECHO);
- Storage (C-STORE) of every Secondary Capture class, Encapsulated PDF and every
  storage class pynetdicom knows, in all twelve transfer syntaxes of core.transfer.
  Each object is kept as a Part 10 file
  ``STORAGE/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`` (written
  atomically; the same instance sent again replaces the file). The index the queries
  use is kept in memory and rebuilt from STORAGE at start-up;
- Study Root Query/Retrieve FIND at STUDY, SERIES and IMAGE level over what it holds;
- Modality Worklist FIND over the items of a JSON worklist file (optional).

Matching (both FIND services): an empty key is universal; ``*`` and ``?`` are
wildcards; DA and TM keys take ranges (``A-B``, ``A-``, ``-B``); UI keys take a list of
UIDs separated by backslashes; any other value must match exactly, but person names
match without regard to case and against any of their groups (``Yamada^Tarou`` finds
``Yamada^Tarou=山田^太郎``). Answers hold the requested keys only, plus Specific
Character Set ISO_IR 192 (UTF-8), as pending responses followed by success.

The worklist file
-----------------
A UTF-8 JSON array of worklist items. Each item is an object mapping DICOM keywords to
values: a string (or a number) for one value, an array of strings for several, null
or "" for none, and an array of objects for a sequence (its items, in the same form).
Person names use the DICOM form ``Family^Given``, with ideographic and phonetic groups
after ``=``. Every scheduled procedure step of ``ScheduledProcedureStepSequence`` is a
separate answer, matched on the keys the query puts in that sequence (Modality,
ScheduledStationAETitle, ScheduledProcedureStepStartDate/Time...)::

    [
      {
        "PatientName": "Yamada^Tarou=山田^太郎=やまだ^たろう",
        "PatientID": "P0001",
        "PatientBirthDate": "19700101",
        "PatientSex": "M",
        "AccessionNumber": "ACC0001",
        "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1",
        "ReferringPhysicianName": "Suzuki^Ichiro",
        "RequestedProcedureDescription": "Film digitization",
        "RequestedProcedureID": "RP0001",
        "ScheduledProcedureStepSequence": [
          {
            "Modality": "OT",
            "ScheduledStationAETitle": "EZP2P",
            "ScheduledProcedureStepStartDate": "20261129",
            "ScheduledProcedureStepStartTime": "0900",
            "ScheduledProcedureStepDescription": "Scan films",
            "ScheduledProcedureStepID": "SPS0001"
          }
        ]
      }
    ]

The file is read at start-up (an error there stops the server with a message naming
the item and keyword) and read again whenever it changes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom import Dataset, dcmread
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, StoragePresentationContexts, evt
from pynetdicom.dsutils import encode_file_meta
from pynetdicom.sop_class import (
    ModalityWorklistInformationFind,
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from ..core.errors import Ezp2pError
from ..core.files import atomic_file
from ..core.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from ..core.transfer import TRANSFER_SYNTAXES
from .destination import DEFAULT_MAX_PDU, check_ae_title

logger = logging.getLogger(__name__)

DEFAULT_SERVER_AE_TITLE = "EZP2P-PACS"
RESPONSE_CHARSET = "ISO_IR 192"

#: Secondary Capture (single-frame and the multi-frame family) and Encapsulated PDF.
OUR_STORAGE_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.7",
    "1.2.840.10008.5.1.4.1.1.7.1",
    "1.2.840.10008.5.1.4.1.1.7.2",
    "1.2.840.10008.5.1.4.1.1.7.3",
    "1.2.840.10008.5.1.4.1.1.7.4",
    "1.2.840.10008.5.1.4.1.1.104.1",
)
_UNCOMPRESSED = [ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian]
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")

# Status codes (PS3.4 annexes B and C, PS3.7 annex C).
SUCCESS = 0x0000
PENDING = 0xFF00
CANCEL = 0xFE00
STORE_CANNOT_UNDERSTAND = 0xC000
STORE_OUT_OF_RESOURCES = 0xA700
FIND_IDENTIFIER_MISMATCH = 0xA900
FIND_UNABLE_TO_PROCESS = 0xC000

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
#: The spec lists Body Part Examined at study level: answer it there from the series.
LEVEL_KEYS = {
    "STUDY": frozenset(STUDY_KEYS + _STUDY_COMPUTED + _COMMON + ("BodyPartExamined",)),
    "SERIES": frozenset(STUDY_KEYS + _STUDY_COMPUTED + SERIES_KEYS + _SERIES_COMPUTED + _COMMON),
    "IMAGE": frozenset(
        STUDY_KEYS + _STUDY_COMPUTED + SERIES_KEYS + _SERIES_COMPUTED + IMAGE_KEYS + _COMMON
    ),
}


class ServerError(Ezp2pError, RuntimeError):
    """The local PACS cannot start: port taken, storage or worklist unusable."""


# --------------------------------------------------------------------------- matching


def element_values(value: Any) -> list[str]:
    """A data element's value as a list of strings ([] when empty)."""
    if value is None or value == "":
        return []
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value if str(v) != ""]
    return [str(value)]


def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """``*`` and ``?`` as DICOM wildcards; every other character literal."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _name_forms(value: str) -> list[str]:
    """A person name, whole and group by group, without trailing empty components."""
    groups = [group.rstrip("^ ") for group in value.split("=")]
    return [value.rstrip("^= "), *(g for g in groups if g)]


def _normalise_time(value: str) -> str:
    return value.replace(":", "").strip()


def _in_range(vr: str, query: str, value: str) -> bool:
    low, _, high = query.partition("-")
    clean = (lambda v: v.replace(".", "").strip()) if vr == "DA" else _normalise_time
    low, high, value = clean(low), clean(high), clean(value)
    if not value:
        return False
    # Compare at the precision of each bound: "-12" includes 12:59, "2026-" all of 2026.
    if low and value[: len(low)].ljust(len(low), "0") < low:
        return False
    return not (high and value[: len(high)] > high)


def value_matches(vr: str, query: str, values: list[str]) -> bool:
    """Whether an attribute with ``values`` matches the query ``query`` (PS3.4 C.2.2.2)."""
    query = query.strip()
    if not query or query.strip("*") == "":
        return True  # universal matching; "*" alone matches empty values too
    if vr == "UI":
        wanted = {uid.strip() for uid in query.split("\\")}
        return any(v.strip() in wanted for v in values)
    alternatives = query.split("\\")
    for value in values:
        value = value.strip()
        for wanted in alternatives:
            if vr in ("DA", "TM") and "-" in wanted:
                if _in_range(vr, wanted, value):
                    return True
                continue
            if vr == "TM":
                value, wanted = _normalise_time(value), _normalise_time(wanted)
            forms = _name_forms(value) if vr == "PN" else [value]
            if vr == "PN":
                wanted = wanted.rstrip("^= ")
            if "*" in wanted or "?" in wanted:
                pattern = _wildcard(wanted, ignore_case=vr == "PN")
                if any(pattern.fullmatch(form) for form in forms):
                    return True
            elif vr == "PN":
                if any(form.casefold() == wanted.casefold() for form in forms):
                    return True
            elif value == wanted:
                return True
    return False


def _vr(tag: int) -> str:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"


def _element(keyword: str, tag: int, vr: str, values: list[str]) -> DataElement:
    if vr == "SQ":
        return DataElement(tag, vr, Sequence())
    value: Any = values[0] if len(values) == 1 else (values or "")
    if vr in ("US", "UL", "SS", "SL") and values:
        value = int(values[0]) if len(values) == 1 else [int(v) for v in values]
    return DataElement(tag, vr, value)


def _answer_keys(identifier: Dataset) -> list[tuple[int, str, str]]:
    """(tag, keyword, VR) of each key requested, Specific Character Set left out."""
    keys = []
    for elem in identifier:
        keyword = keyword_for_tag(elem.tag)
        if elem.tag.is_private or not keyword or keyword == "SpecificCharacterSet":
            continue
        if elem.tag.element == 0:  # group length
            continue
        keys.append((int(elem.tag), keyword, elem.VR if elem.VR != "UN" else _vr(elem.tag)))
    return keys


def _query_text(elem: DataElement) -> str:
    if elem.VR == "SQ":
        return ""
    return "\\".join(element_values(elem.value))


# --------------------------------------------------------------------------- storage index


@dataclass
class _Instance:
    path: Path
    attributes: dict[str, list[str]]


def _record_of(ds: Dataset) -> dict[str, list[str]]:
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
                ds = dcmread(path, stop_before_pixels=True)
                record = _record_of(ds)
            except (InvalidDicomError, OSError, ValueError, KeyError) as error:
                logger.warning("skipping %s: not a readable DICOM file (%s)", path, error)
                continue
            if record["SOPInstanceUID"]:
                instances[record["SOPInstanceUID"][0]] = _Instance(path, record)
        with self._lock:
            self._instances = instances
        return len(instances)

    def add(self, path: Path, ds: Dataset) -> None:
        record = _record_of(ds)
        with self._lock:
            self._instances[record["SOPInstanceUID"][0]] = _Instance(path, record)

    def records(self, level: str) -> list[dict[str, list[str]]]:
        """One attribute record per study, series or instance, with computed keys."""
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


def _first(record: dict[str, list[str]], keyword: str) -> str:
    values = record.get(keyword) or [""]
    return values[0]


def _check_uid(name: str, value: str) -> str:
    if not (0 < len(value) <= 64 and _UID.match(value)):
        raise ValueError(f"{name} {value!r} is not a valid UID")
    return value


def _write_file(data: bytes, path: Path) -> None:
    with atomic_file(path) as stream:
        stream.write(data)


# --------------------------------------------------------------------------- worklist


def load_worklist(path: str | os.PathLike[str]) -> list[Dataset]:
    """The items of a JSON worklist file (format in the module docstring) as datasets."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ServerError(f"worklist {path}: cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ServerError(f"worklist {path}: not UTF-8 ({error.reason})") from None
    except json.JSONDecodeError as error:
        raise ServerError(
            f"worklist {path}, line {error.lineno}, column {error.colno}: "
            f"invalid JSON: {error.msg}"
        ) from None
    if not isinstance(data, list):
        raise ServerError(f"worklist {path}: must be a JSON array of items")
    return [
        _dataset_from_json(item, f"worklist {path}: item {n}") for n, item in enumerate(data, 1)
    ]


def _dataset_from_json(item: Any, where: str) -> Dataset:
    if not isinstance(item, dict):
        raise ServerError(f"{where}: must be an object of DICOM keyword -> value")
    ds = Dataset()
    for keyword, value in item.items():
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise ServerError(f"{where}: {keyword!r} is not a DICOM keyword")
        vr = dictionary_VR(tag)
        if vr == "SQ":
            if not isinstance(value, list):
                raise ServerError(f"{where}: {keyword} must be an array of objects")
            items = [
                _dataset_from_json(sub, f"{where}, {keyword} item {n}")
                for n, sub in enumerate(value, 1)
            ]
            ds.add(DataElement(tag, vr, Sequence(items)))
            continue
        if value is None:
            values: list[str] = []
        elif isinstance(value, list):
            values = [str(v) for v in value]
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            values = [str(value)]
        else:
            raise ServerError(f"{where}: {keyword} must be a string, a number or an array")
        try:
            ds.add(_element(keyword, tag, vr, values))
        except ValueError as error:
            raise ServerError(f"{where}: {keyword}: {error}") from None
    return ds


class Worklist:
    """A JSON worklist file, read again when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._items: list[Dataset] = []
        self._lock = threading.Lock()
        self.items()

    def items(self) -> list[Dataset]:
        with self._lock:
            try:
                stat = self.path.stat()
            except OSError as error:
                raise ServerError(f"worklist {self.path}: {error.strerror or error}") from None
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                self._items = load_worklist(self.path)
                self._stamp = stamp
            return self._items


def _elem(ds: Dataset, keyword: str) -> DataElement | None:
    return ds.data_element(keyword) if keyword in ds else None


def _matches(query: Dataset, source: Dataset, skip: str = "") -> bool:
    for elem in query:
        keyword = keyword_for_tag(elem.tag)
        if not keyword or keyword in ("SpecificCharacterSet", skip) or elem.VR == "SQ":
            continue
        have = _elem(source, keyword)
        if not value_matches(
            elem.VR, _query_text(elem), element_values(have.value if have else None)
        ):
            return False
    return True


def _answer(query: Dataset, source: Dataset) -> Dataset:
    """The keys of ``query`` with their values in ``source`` (sequences recursively)."""
    out = Dataset()
    for elem in query:
        keyword = keyword_for_tag(elem.tag)
        if not keyword or keyword == "SpecificCharacterSet" or elem.tag.element == 0:
            continue
        have = _elem(source, keyword)
        if elem.VR == "SQ":
            items = list(have.value) if have is not None and have.VR == "SQ" else []
            if elem.value:  # keys requested inside the sequence
                items = [_answer(elem.value[0], item) for item in items]
            out.add(DataElement(elem.tag, "SQ", Sequence(items)))
        elif have is not None:
            out.add(DataElement(elem.tag, have.VR, have.value))
        else:
            out.add(DataElement(elem.tag, elem.VR if elem.VR != "UN" else _vr(elem.tag), None))
    return out


def worklist_answers(query: Dataset, items: list[Dataset]) -> Iterator[Dataset]:
    """The answers to a Modality Worklist query: one per matching scheduled step."""
    sps_key = "ScheduledProcedureStepSequence"
    sps_query = _elem(query, sps_key)
    sps_item = sps_query.value[0] if sps_query is not None and sps_query.value else None
    for item in items:
        if not _matches(query, item, skip=sps_key):
            continue
        if sps_query is None:
            yield _answer(query, item)
            continue
        steps = item.get(sps_key) or []
        for step in steps:
            if sps_item is not None and not _matches(sps_item, step):
                continue
            answer = _answer(query, item)
            keys = _answer(sps_item, step) if sps_item is not None else step
            answer.add(DataElement(sps_query.tag, "SQ", Sequence([keys])))
            yield answer


# --------------------------------------------------------------------------- the server


class LocalPacs:
    """The state and event handlers behind :func:`run_server`."""

    def __init__(
        self, storage: Path, ae_title: str = DEFAULT_SERVER_AE_TITLE, worklist: Path | None = None
    ) -> None:
        self.storage = storage
        self.ae_title = ae_title
        try:
            storage.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ServerError(f"storage {storage}: {error.strerror or error}") from None
        self.index = StoredIndex(storage, ae_title)
        self.index.rebuild()
        self.worklist = Worklist(worklist) if worklist is not None else None

    # -- handlers

    def handlers(self) -> list:
        return [
            (evt.EVT_CONN_OPEN, _no_delay),
            (evt.EVT_C_ECHO, lambda event: SUCCESS),
            (evt.EVT_C_STORE, self.on_store),
            (evt.EVT_C_FIND, self.on_find),
        ]

    def on_store(self, event) -> int | Dataset:
        try:
            ds = event.dataset
            study = _check_uid("StudyInstanceUID", str(ds.get("StudyInstanceUID", "")))
            series = _check_uid("SeriesInstanceUID", str(ds.get("SeriesInstanceUID", "")))
            sop = _check_uid("SOPInstanceUID", str(ds.get("SOPInstanceUID", "")))
        except (ValueError, KeyError, InvalidDicomError) as error:
            logger.warning("refused an object from %s: %s", _peer(event), error)
            return _status(STORE_CANNOT_UNDERSTAND, str(error))
        path = self.storage / study / series / f"{sop}.dcm"
        try:
            _write_file(_part10(event), path)
        except OSError as error:
            logger.error("cannot store %s: %s", path, error)
            return _status(STORE_OUT_OF_RESOURCES, f"cannot write: {error.strerror or error}")
        self.index.add(path, ds)
        logger.info(
            "stored %s from %s (%s, %s)",
            path.relative_to(self.storage),
            _peer(event),
            ds.get("Modality", ""),
            event.context.transfer_syntax.name,
        )
        return SUCCESS

    def on_find(self, event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        model = event.request.AffectedSOPClassUID
        try:
            query = event.identifier
        except Exception as error:  # noqa: BLE001 - any decoding failure is the peer's
            yield _status(FIND_UNABLE_TO_PROCESS, f"cannot decode the identifier: {error}"), None
            return
        if model == ModalityWorklistInformationFind:
            if self.worklist is None:
                yield _status(FIND_UNABLE_TO_PROCESS, "this server has no worklist"), None
                return
            try:
                answers = list(worklist_answers(query, self.worklist.items()))
            except ServerError as error:
                logger.error("%s", error)
                yield _status(FIND_UNABLE_TO_PROCESS, str(error)[:1024]), None
                return
        else:
            level = str(query.get("QueryRetrieveLevel", "")).strip().upper()
            if level not in LEVEL_KEYS:
                yield (
                    _status(FIND_IDENTIFIER_MISMATCH, f"unsupported level {level!r}"),
                    None,
                )
                return
            answers = list(self._study_answers(query, level))
        for answer in answers:
            if event.is_cancelled:
                yield CANCEL, None
                return
            answer.SpecificCharacterSet = RESPONSE_CHARSET
            yield PENDING, answer
        yield SUCCESS, None

    def _study_answers(self, query: Dataset, level: str) -> Iterator[Dataset]:
        known = LEVEL_KEYS[level]
        keys = _answer_keys(query)
        for record in self.index.records(level):
            if not all(
                keyword not in known
                or value_matches(vr, _query_text(query[tag]), record.get(keyword, []))
                for tag, keyword, vr in keys
                if keyword != "QueryRetrieveLevel"
            ):
                continue
            answer = Dataset()
            for tag, keyword, vr in keys:
                if keyword == "QueryRetrieveLevel":
                    answer.QueryRetrieveLevel = level
                else:
                    answer.add(_element(keyword, tag, vr, record.get(keyword, [])))
            yield answer


def _part10(event) -> bytes:
    """The received object as a Part 10 file, its bytes as sent: file meta from the
    request (SOP class and instance, transfer syntax), written by us, from the peer."""
    meta = event.file_meta
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    calling = event.assoc.requestor.ae_title.strip()
    if calling:
        meta.SourceApplicationEntityTitle = calling
    return b"".join(
        (b"\x00" * 128, b"DICM", encode_file_meta(meta), event.encoded_dataset(include_meta=False))
    )


def _status(code: int, comment: str) -> Dataset:
    status = Dataset()
    status.Status = code
    status.ErrorComment = comment[:64]
    return status


def _peer(event) -> str:
    requestor = event.assoc.requestor
    return f"{requestor.ae_title}@{requestor.address}"


def _no_delay(event) -> None:
    """Nagle's algorithm costs ~40 ms per small message on loopback: turn it off."""
    sock = getattr(getattr(event.assoc.dul, "socket", None), "socket", None)
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            logger.debug("could not set TCP_NODELAY", exc_info=True)


def make_ae(ae_title: str = DEFAULT_SERVER_AE_TITLE, max_pdu: int = DEFAULT_MAX_PDU) -> AE:
    """The server's application entity with all its presentation contexts."""
    ae = AE(ae_title=check_ae_title(ae_title))
    ae.implementation_class_uid = IMPLEMENTATION_CLASS_UID
    ae.implementation_version_name = IMPLEMENTATION_VERSION_NAME
    ae.maximum_pdu_size = max_pdu
    syntaxes = [ts.uid for ts in TRANSFER_SYNTAXES]
    storage = dict.fromkeys(
        [*OUR_STORAGE_CLASSES, *(c.abstract_syntax for c in StoragePresentationContexts)]
    )
    for abstract in storage:
        ae.add_supported_context(abstract, syntaxes)
    ae.add_supported_context(Verification, _UNCOMPRESSED)
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind, _UNCOMPRESSED)
    ae.add_supported_context(ModalityWorklistInformationFind, _UNCOMPRESSED)
    return ae


def run_server(
    storage: str | os.PathLike[str],
    port: int,
    *,
    host: str = "127.0.0.1",
    ae_title: str = DEFAULT_SERVER_AE_TITLE,
    worklist: str | os.PathLike[str] | None = None,
    block: bool = True,
    max_pdu: int = DEFAULT_MAX_PDU,
):
    """Start the local PACS on ``host:port`` storing into ``storage``.

    With ``block=True`` serve until interrupted (Ctrl+C) and return None; otherwise
    return the running pynetdicom server (``server.server_address`` has the port when
    ``port`` is 0; stop it with ``server.shutdown()``). Raises ServerError when the
    storage folder or the worklist file cannot be used or the port cannot be bound.
    """
    pacs = LocalPacs(Path(storage), ae_title, Path(worklist) if worklist is not None else None)
    ae = make_ae(ae_title, max_pdu)
    try:
        server = ae.start_server((host, port), block=False, evt_handlers=pacs.handlers())
    except OSError as error:
        raise ServerError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    server.pacs = pacs  # for callers that want to look at what it holds
    logger.info(
        "%s listening on %s:%d, storing into %s (%d instances indexed)",
        ae_title,
        host,
        server.server_address[1],
        pacs.storage,
        len(pacs.index),
    )
    if not block:
        return server
    try:
        while True:
            time.sleep(3600)  # the server runs in its thread; Ctrl+C ends the sleep
    except KeyboardInterrupt:
        logger.info("%s stopping", ae_title)
    finally:
        server.shutdown()
    return None
