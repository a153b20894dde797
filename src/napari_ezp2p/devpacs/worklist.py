"""The worklist file of the local PACS, and the Modality Worklist answers from its items.

A UTF-8 JSON array of worklist items. Each item is an object mapping DICOM keywords to
values: a string (or a number) for one value, an array of strings for several, null
or "" for none, and an array of objects for a sequence (its items, in the same form).
Person names use the DICOM form ``Family^Given``, with ideographic and phonetic groups
after ``=``. Every scheduled procedure step of ``ScheduledProcedureStepSequence`` is a
separate answer, matched on the keys the query puts in that sequence (Modality,
ScheduledStationAETitle, ScheduledProcedureStepStartDate/Time...). Every key the query
asks for is answered, sequences (the order's codes) whole::

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
        "RequestedProcedureCodeSequence": [
          {"CodeValue": "FILM", "CodingSchemeDesignator": "99LOCAL", "CodeMeaning": "Film import"}
        ],
        "ScheduledProcedureStepSequence": [
          {
            "Modality": "OT",
            "ScheduledStationAETitle": "EZP2P",
            "ScheduledProcedureStepStartDate": "20261129",
            "ScheduledProcedureStepStartTime": "0900",
            "ScheduledProcedureStepDescription": "Scan films",
            "ScheduledProcedureStepID": "SPS0001",
            "ScheduledProtocolCodeSequence": [
              {"CodeValue": "SCAN", "CodingSchemeDesignator": "99LOCAL", "CodeMeaning": "Scan"}
            ]
          }
        ]
      }
    ]

The file is read at start-up (an error there stops the server with a message naming
the item and keyword) and read again whenever it changes.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydicom import Dataset
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.sequence import Sequence

from .errors import ServerError
from .matching import answer_from, dataset_matches, element_or_none, new_element


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
            ds.add(new_element(tag, vr, values))
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


def worklist_answers(query: Dataset, items: list[Dataset]) -> Iterator[Dataset]:
    """The answers to a Modality Worklist query: one per matching scheduled step."""
    sps_key = "ScheduledProcedureStepSequence"
    sps_query = element_or_none(query, sps_key)
    sps_item = sps_query.value[0] if sps_query is not None and sps_query.value else None
    for item in items:
        if not dataset_matches(query, item, skip=sps_key):
            continue
        if sps_query is None:
            yield answer_from(query, item)
            continue
        steps = item.get(sps_key) or []
        for step in steps:
            if sps_item is not None and not dataset_matches(sps_item, step):
                continue
            answer = answer_from(query, item)
            keys = answer_from(sps_item, step) if sps_item is not None else step
            answer.add(DataElement(sps_query.tag, "SQ", Sequence([keys])))
            yield answer
