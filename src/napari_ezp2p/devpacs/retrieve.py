"""Taking studies back out of the local PACS: C-GET and C-MOVE over what it holds.

A retrieve names what it wants by unique keys (PS3.4 C.4.2-C.4.3): Patient ID, Study,
Series and SOP Instance UIDs down to its Query/Retrieve Level; the level's own key is
required and may list several UIDs. C-GET sends the instances back over the same
association (the requestor proposes their storage classes in the SCP role); C-MOVE
sends them to a destination known by its AE title (``--move-destination``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from pydicom import Dataset, dcmread
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_file_meta_info
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import build_context
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
)

from ..net.destination import Destination
from .index import StoredIndex
from .matching import element_values
from .status import CANCEL, PENDING, RETRIEVE_IDENTIFIER_MISMATCH, status

logger = logging.getLogger(__name__)

_PATIENT_ROOT = (
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
)
#: The unique key of each level, top down.
_UNIQUE_KEYS = {
    "PATIENT": "PatientID",
    "STUDY": "StudyInstanceUID",
    "SERIES": "SeriesInstanceUID",
    "IMAGE": "SOPInstanceUID",
}
#: A requestor proposes at most 128 presentation contexts.
_MAX_CONTEXTS = 128


class RetrieveError(ValueError):
    """A retrieve identifier that names nothing we can look up (says why)."""


def retrieve_keys(identifier: Dataset, patient_root: bool) -> dict[str, set[str]]:
    """The unique keys a retrieve identifier gives, down to its level, as sets of values."""
    level = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
    levels = list(_UNIQUE_KEYS) if patient_root else list(_UNIQUE_KEYS)[1:]
    if level not in levels:
        raise RetrieveError(f"unsupported level {level!r}")
    keys = {}
    for name in levels[: levels.index(level) + 1]:
        keyword = _UNIQUE_KEYS[name]
        values = {v.strip() for v in element_values(identifier.get(keyword)) if v.strip()}
        if values:
            keys[keyword] = values
    if _UNIQUE_KEYS[level] not in keys:
        raise RetrieveError(f"a retrieve at level {level} needs {_UNIQUE_KEYS[level]}")
    return keys


def stored_path(storage: Path, record: dict[str, list[str]]) -> Path:
    """Where the server keeps the instance of an IMAGE-level index record."""
    study, series, sop = (
        record[k][0] for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
    )
    return storage / study / series / f"{sop}.dcm"


class Retrieval:
    """The C-GET and C-MOVE handlers over a server's index."""

    def __init__(
        self, index: StoredIndex, storage: Path, destinations: tuple[Destination, ...] = ()
    ) -> None:
        self.index = index
        self.storage = storage
        self.destinations = {dest.ae_title: dest for dest in destinations}

    def matches(self, identifier: Dataset, patient_root: bool) -> list[Path]:
        """The files of the instances a retrieve identifier names."""
        keys = retrieve_keys(identifier, patient_root)
        return [
            stored_path(self.storage, record)
            for record in self.index.records("IMAGE")
            if all(set(record.get(keyword, [])) & wanted for keyword, wanted in keys.items())
        ]

    def on_get(self, event) -> Iterator:
        try:
            paths = self._requested(event)
        except RetrieveError as error:
            yield 1
            yield status(RETRIEVE_IDENTIFIER_MISMATCH, str(error)), None
            return
        yield len(paths)
        yield from self._datasets(event, paths)

    def on_move(self, event) -> Iterator:
        dest = self.destinations.get(event.move_destination.strip())
        if dest is None:
            logger.warning("C-MOVE to unknown destination %r refused", event.move_destination)
            yield None, None  # pynetdicom answers 0xA801, move destination unknown
            return
        try:
            paths = self._requested(event)
        except RetrieveError as error:
            yield dest.host, dest.port
            yield 1
            yield status(RETRIEVE_IDENTIFIER_MISMATCH, str(error)), None
            return
        yield dest.host, dest.port, {"contexts": _contexts_for(paths)}
        yield len(paths)
        yield from self._datasets(event, paths)

    def _requested(self, event) -> list[Path]:
        try:
            identifier = event.identifier
        except Exception as error:  # noqa: BLE001 - any decoding failure is the peer's
            raise RetrieveError(f"cannot decode the identifier: {error}") from None
        patient_root = event.request.AffectedSOPClassUID in _PATIENT_ROOT
        return self.matches(identifier, patient_root)

    def _datasets(self, event, paths: list[Path]) -> Iterator[tuple[int, Dataset | None]]:
        for path in paths:
            if event.is_cancelled:
                yield CANCEL, None
                return
            try:
                yield PENDING, dcmread(path)
            except (InvalidDicomError, OSError, ValueError) as error:
                logger.warning("cannot send %s: %s", path, error)
                # Without a SOP Class UID the C-STORE sub-operation fails and is
                # counted as failed, this instance in the Failed SOP Instance UID List.
                failed = Dataset()
                failed.SOPInstanceUID = path.stem
                yield PENDING, failed


def _contexts_for(paths: list[Path]) -> list:
    """Presentation contexts for sending these files: each one's class, in its own
    transfer syntax and the uncompressed ones."""
    syntaxes: dict[str, dict[str, None]] = {}
    for path in paths:
        try:
            meta = read_file_meta_info(path)
        except (InvalidDicomError, OSError) as error:
            logger.warning("cannot read %s: %s", path, error)
            continue
        sop_class = str(meta.get("MediaStorageSOPClassUID", ""))
        if sop_class:
            known = syntaxes.setdefault(sop_class, {})
            known[str(meta.get("TransferSyntaxUID", ExplicitVRLittleEndian))] = None
    uncompressed = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
    return [
        build_context(sop_class, list(dict.fromkeys([*found, *uncompressed])))
        for sop_class, found in list(syntaxes.items())[:_MAX_CONTEXTS]
    ]
