"""A C-STORE of a Part 10 file's data set as it is, read from the file while it is sent."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian
from pynetdicom import evt
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import split_dataset
from pynetdicom.pdu_primitives import P_DATA

from . import fastpdata
from .progress import Throttle

#: The message control header of a PDV holding the last fragment of a data set (PS3.8 E.2).
_LAST_DATA_FRAGMENT = 0b10
#: The bit of that header set on a command fragment, clear on a data set fragment.
_COMMAND_FRAGMENT = 0b01
#: The first byte of a P-DATA-TF PDU (PS3.8 9.3.1).
_P_DATA_TF = b"\x04"


def send_file(
    assoc: Association,
    path: Path,
    sop_class: UID,
    sop_instance: UID,
    syntax: UID,
    on_bytes: Callable[[int, int], None] | None = None,
) -> Dataset:
    """``send_c_store`` of the file's encoded data set as it is (the response): pynetdicom
    reads it from the file in PDU-sized pieces, never decoding it nor holding it whole.

    pynetdicom streams a path only while its process-wide ``STORE_SEND_CHUNKED_DATASET``
    is set; here ``send_c_store`` gets a stand-in holding the file's UIDs and syntax (the
    context and the command set come from it), and this association's DIMSE layer sends
    the file's data set in its place (``C_STORE._dataset_path``, as pynetdicom does).

    A deflate stream of odd length (some files lack its pad) goes with the single trailing
    NULL byte of PS3.5 A.5, as pydicom and pynetdicom write it: a peer may refuse a data
    set fragment of odd length.

    ``on_bytes(sent, size)`` (throttled: :class:`.progress.Throttle`) counts the data
    set's bytes as they leave on the socket, from 0 to exactly its size in the file;
    it is called from this thread and pynetdicom's connection thread.

    When :func:`.fastpdata.usable` says so at the time of sending, the request's PDUs
    are written by :func:`.fastpdata.send_c_store` instead of pynetdicom's DUL.
    """
    _, offset = split_dataset(path)
    size = path.stat().st_size - offset
    stand_in = Dataset()
    stand_in.SOPClassUID, stand_in.SOPInstanceUID = sop_class, sop_instance
    stand_in.file_meta = FileMetaDataset()
    stand_in.file_meta.TransferSyntaxUID = syntax
    dimse, dul = assoc.dimse, assoc.dul
    send_msg, send_pdu = dimse.send_msg, dul.send_pdu
    report = Throttle(on_bytes) if on_bytes is not None else None
    queued: deque[int] = deque()  # the data set bytes of each P-DATA queued, in order
    sent = 0

    def padded(pdu: object) -> None:
        values = pdu.presentation_data_value_list if isinstance(pdu, P_DATA) else []
        for n, (context_id, value) in enumerate(values):
            if value[0] == _LAST_DATA_FRAGMENT:
                values[n] = (context_id, value + b"\x00")
        send_pdu(pdu)

    odd = size % 2 == 1
    queue = padded if odd and syntax == DeflatedExplicitVRLittleEndian else send_pdu

    def counted(pdu: object) -> None:
        if isinstance(pdu, P_DATA):
            values = pdu.presentation_data_value_list
            queued.append(sum(len(v) - 1 for _, v in values if not v[0] & _COMMAND_FRAGMENT))
        queue(pdu)

    def on_sent(event: evt.Event) -> None:  # pynetdicom's thread sends the PDUs in order
        nonlocal sent
        if event.data[:1] == _P_DATA_TF and queued:
            sent += queued.popleft()
            report(sent, size)

    def from_the_file(primitive: C_STORE, context_id: int) -> None:
        fast = fastpdata.usable(assoc, size)
        if fast and fastpdata.send_c_store(assoc, primitive, context_id, path, offset, report):
            return
        primitive.DataSet = None
        primitive._dataset_path = (path, offset)
        if report is not None:
            report(0, size)
            dul.send_pdu = counted  # type: ignore[method-assign]
            assoc.bind(evt.EVT_DATA_SENT, on_sent)
        else:
            dul.send_pdu = queue  # type: ignore[method-assign]
        send_msg(primitive, context_id)

    dimse.send_msg = from_the_file  # type: ignore[method-assign]
    try:
        return assoc.send_c_store(stand_in)
    finally:
        dimse.send_msg = send_msg  # type: ignore[method-assign]
        dul.send_pdu = send_pdu  # type: ignore[method-assign]
        assoc.unbind(evt.EVT_DATA_SENT, on_sent)
