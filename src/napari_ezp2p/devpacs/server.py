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
plus Specific Character Set ISO_IR 192 (UTF-8), as pending responses followed by success.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from pydicom import Dataset
from pydicom.errors import InvalidDicomError
from pynetdicom import evt
from pynetdicom.dsutils import encode_file_meta
from pynetdicom.sop_class import ModalityWorklistInformationFind

from ..core.files import atomic_file
from ..core.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from ..net.destination import DEFAULT_MAX_PDU, Destination
from .entity import DEFAULT_SERVER_AE_TITLE, ServerLimits, make_ae
from .errors import ServerError
from .guard import guard_connection
from .index import LEVEL_KEYS, StoredIndex
from .retrieve import Retrieval, is_patient_level_find
from .status import (
    CANCEL,
    FIND_IDENTIFIER_MISMATCH,
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
            (evt.EVT_C_FIND, self.on_query),
            (evt.EVT_C_GET, self.retrieval.on_get),
            (evt.EVT_C_MOVE, self.retrieval.on_move),
        ]

    def on_query(self, event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        """C-FIND: Patient Root at PATIENT level is ``retrieve``'s, every other is on_find's."""
        if is_patient_level_find(event):
            return self.retrieval.on_find_patients(event)
        return self.on_find(event)

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
            answers = list(self.index.answers(query, level))
        for answer in answers:
            if event.is_cancelled:
                yield CANCEL, None
                return
            answer.SpecificCharacterSet = RESPONSE_CHARSET
            yield PENDING, answer
        yield SUCCESS, None


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
