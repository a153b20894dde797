"""A small local PACS for trying things out: the server behind ``ezp2p serve``.

It listens on 127.0.0.1 unless told otherwise, answers only to its own AE title (unless
told to take any), within the limits of ``entity.ServerLimits`` and ``guard``, and offers
(``entity`` lists the presentation contexts):

- Verification (C-ECHO);
- Storage (C-STORE) of every storage class pynetdicom knows, in every transfer syntax.
  Each object is kept as a Part 10 file
  ``STORAGE/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`` (written
  atomically; the same instance sent again replaces the file). The index the queries
  use (``index``) is kept in memory and rebuilt from STORAGE at start-up;
- Study Root and Patient Root Query/Retrieve FIND (Patient Root's PATIENT level in
  ``retrieve``), GET and MOVE (``retrieve``) over what it holds;
- Modality Worklist FIND over the items of a JSON worklist file (optional; its format
  in ``worklist``).

Both FIND services match as ``matching`` says. Answers hold the requested keys only,
plus Specific Character Set ISO_IR 192 (UTF-8), as pending responses followed by success;
a search that passes its bounds (``LocalPacs.find_seconds``, ``find_answer_limit``) ends
with Refused: Out of Resources instead. An object is stored only when it parses
(``core.dicom_check``); any other is refused with the reason and leaves no file. The log
names peers and counts, never query keys or patient data, but at DEBUG.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from pydicom import Dataset
from pynetdicom import evt
from pynetdicom.dsutils import encode_file_meta
from pynetdicom.sop_class import (
    ModalityWorklistInformationFind,
    PatientRootQueryRetrieveInformationModelFind,
)

from ..core.dicom_check import check_dataset
from ..core.files import atomic_file
from ..core.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from ..net.destination import DEFAULT_MAX_PDU, Destination
from .entity import DEFAULT_SERVER_AE_TITLE, ServerLimits, make_ae
from .errors import ServerError
from .guard import guard_connection
from .index import LEVEL_KEYS, StoredIndex, record_of
from .matching import SearchTimeout, answer_keys, query_text, within
from .retrieve import Retrieval
from .status import (
    CANCEL,
    FIND_IDENTIFIER_MISMATCH,
    FIND_OUT_OF_RESOURCES,
    FIND_UNABLE_TO_PROCESS,
    PENDING,
    STORE_CANNOT_UNDERSTAND,
    STORE_OUT_OF_RESOURCES,
    SUCCESS,
)
from .status import status as _status
from .worklist import Worklist, worklist_answers

logger = logging.getLogger(__name__)

RESPONSE_CHARSET = "ISO_IR 192"
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


class LocalPacs:
    """The state and event handlers behind :func:`run_server`."""

    #: The bounds of one C-FIND: its time, and its number of answers.
    find_seconds: float = 10.0
    find_answer_limit: int = 1000

    def __init__(
        self,
        storage: Path,
        ae_title: str = DEFAULT_SERVER_AE_TITLE,
        worklist: Path | None = None,
        limits: ServerLimits | None = None,
        move_destinations: tuple[Destination, ...] = (),
    ) -> None:
        self.storage = storage
        self.ae_title = ae_title
        self.limits = limits or ServerLimits()
        try:
            storage.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ServerError(f"storage {storage}: {error.strerror or error}") from None
        self.index = StoredIndex(storage, ae_title)
        self.index.rebuild()
        self.worklist = Worklist(worklist) if worklist is not None else None
        self.retrieval = Retrieval(self.index, storage, move_destinations)

    # -- handlers

    def handlers(self) -> list:
        timeouts = [self.limits.negotiation_timeout, self.limits.pdu_timeout]
        return [
            (evt.EVT_CONN_OPEN, guard_connection, timeouts),
            (evt.EVT_C_ECHO, lambda event: SUCCESS),
            (evt.EVT_C_STORE, self.on_store),
            (evt.EVT_C_FIND, self.on_find),
            (evt.EVT_C_GET, self.retrieval.on_get),
            (evt.EVT_C_MOVE, self.retrieval.on_move),
        ]

    def on_store(self, event) -> int | Dataset:
        """Store an object that parses (core.dicom_check) under its UIDs, and index it;
        refuse anything else with the reason, writing nothing."""
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            check_dataset(ds)
            study = _check_uid("StudyInstanceUID", str(ds.get("StudyInstanceUID", "")))
            series = _check_uid("SeriesInstanceUID", str(ds.get("SeriesInstanceUID", "")))
            sop = _check_uid("SOPInstanceUID", str(ds.get("SOPInstanceUID", "")))
            record = record_of(ds)
        except Exception as error:  # noqa: BLE001 - any failure to decode is the peer's
            reason = str(error) if isinstance(error, ValueError) else f"cannot decode: {error}"
            logger.warning("refused an object from %s: %.200s", _peer(event), reason)
            return _status(STORE_CANNOT_UNDERSTAND, reason)
        path = self.storage / study / series / f"{sop}.dcm"
        try:
            _write_file(_part10(event), path)
        except OSError as error:
            logger.error("cannot store %s: %s", path, error)
            return _status(STORE_OUT_OF_RESOURCES, f"cannot write: {error.strerror or error}")
        self.index.add(path, record)
        logger.info(
            "stored %s from %s (%s, %s)",
            path.relative_to(self.storage),
            _peer(event),
            ds.get("Modality", ""),
            event.context.transfer_syntax.name,
        )
        return SUCCESS

    def on_find(self, event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        """Answer a Study Root or Modality Worklist query with pending responses, at
        most ``find_answer_limit`` of them within ``find_seconds``: past either bound
        the search stops with Refused: Out of Resources, saying which. The log tells
        who asked and how many answers went, and the keys only at DEBUG."""
        started = time.monotonic()
        what = _SERVICES.get(event.request.AffectedSOPClassUID, "study")
        count = 0
        try:
            query = event.identifier
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("C-FIND keys from %s: %s", _peer(event), _keys_for_log(query))
            for answer in self._answers(what, query, started + self.find_seconds):
                if event.is_cancelled:
                    yield CANCEL, None
                    return
                if count == self.find_answer_limit:
                    yield self._stopped(event, f"more than {count} matches"), None
                    return
                answer.SpecificCharacterSet = RESPONSE_CHARSET
                count += 1
                yield PENDING, answer
        except SearchTimeout:
            yield self._stopped(event, f"the search took over {self.find_seconds:g} s"), None
            return
        except _Refused as refusal:
            logger.warning("refused a query from %s: %s", _peer(event), refusal.comment)
            yield _status(refusal.code, refusal.comment), None
            return
        except Exception as error:  # noqa: BLE001 - an identifier that cannot be decoded
            logger.warning("refused a query from %s: %.200s", _peer(event), error)
            yield _status(FIND_UNABLE_TO_PROCESS, f"cannot decode the identifier: {error}"), None
            return
        logger.info(
            "C-FIND %s from %s: %d answers in %.2f s",
            what,
            _peer(event),
            count,
            time.monotonic() - started,
        )
        yield SUCCESS, None

    def _answers(self, what: str, query: Dataset, deadline: float) -> Iterator[Dataset]:
        if what == "worklist":
            if self.worklist is None:
                raise _Refused(FIND_UNABLE_TO_PROCESS, "this server has no worklist")
            try:
                items = self.worklist.items()
            except ServerError as error:
                raise _Refused(FIND_UNABLE_TO_PROCESS, str(error)) from None
            return worklist_answers(query, within(items, deadline))
        level = str(query.get("QueryRetrieveLevel", "")).strip().upper()
        if level not in LEVEL_KEYS or (level == "PATIENT" and what != "patient"):
            raise _Refused(FIND_IDENTIFIER_MISMATCH, f"unsupported level {level[:16]!r}")
        return self.index.answers(query, level, deadline)

    def _stopped(self, event, why: str) -> Dataset:
        logger.warning("stopped a query from %s: %s", _peer(event), why)
        return _status(FIND_OUT_OF_RESOURCES, f"{why}: narrow the query")


#: What the log calls each query service (a Study Root one, by default).
_SERVICES = {
    ModalityWorklistInformationFind: "worklist",
    PatientRootQueryRetrieveInformationModelFind: "patient",
}


class _Refused(Exception):
    """A query this server does not answer: its status code and comment."""

    def __init__(self, code: int, comment: str) -> None:
        super().__init__(comment)
        self.code, self.comment = code, comment


def _keys_for_log(query: Dataset) -> str:
    """The keys of a query, each value cut to 32 characters, for a DEBUG log line."""
    keys = [f"{keyword}={query_text(query[tag])[:32]!r}" for tag, keyword, _ in answer_keys(query)]
    return ", ".join(keys)[:1000]


def _check_uid(name: str, value: str) -> str:
    if not (0 < len(value) <= 64 and _UID.match(value)):
        raise ValueError(f"{name} {value!r} is not a valid UID")
    return value


def _write_file(data: bytes, path: Path) -> None:
    with atomic_file(path) as stream:
        stream.write(data)


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


def _peer(event) -> str:
    requestor = event.assoc.requestor
    return f"{requestor.ae_title}@{requestor.address}"


def run_server(
    storage: str | os.PathLike[str],
    port: int,
    *,
    host: str = "127.0.0.1",
    ae_title: str = DEFAULT_SERVER_AE_TITLE,
    worklist: str | os.PathLike[str] | None = None,
    block: bool = True,
    max_pdu: int = DEFAULT_MAX_PDU,
    limits: ServerLimits | None = None,
    any_called_aet: bool = False,
    move_destinations: tuple[Destination, ...] = (),
):
    """Start the local PACS on ``host:port`` storing into ``storage``.

    With ``block=True`` serve until interrupted (Ctrl+C) and return None; otherwise
    return the running pynetdicom server (``server.server_address`` has the port when
    ``port`` is 0; stop it with ``server.shutdown()``). Raises ServerError when the
    storage folder or the worklist file cannot be used or the port cannot be bound.
    ``limits`` bound what one peer may hold; ``any_called_aet`` takes associations
    addressed to any AE title; C-MOVE sends to ``move_destinations`` (by AE title).
    """
    limits = limits or ServerLimits()
    worklist_path = Path(worklist) if worklist is not None else None
    pacs = LocalPacs(Path(storage), ae_title, worklist_path, limits, move_destinations)
    ae = make_ae(ae_title, max_pdu, limits, any_called_aet)
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
