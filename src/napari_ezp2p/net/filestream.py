"""A C-STORE of a Part 10 file's data set as it is, read from the file while it is sent."""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import split_dataset
from pynetdicom.pdu_primitives import P_DATA

#: The message control header of a PDV holding the last fragment of a data set (PS3.8 E.2).
_LAST_DATA_FRAGMENT = 0b10


def send_file(
    assoc: Association, path: Path, sop_class: UID, sop_instance: UID, syntax: UID
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
    """
    _, offset = split_dataset(path)
    odd = (path.stat().st_size - offset) % 2 == 1
    stand_in = Dataset()
    stand_in.SOPClassUID, stand_in.SOPInstanceUID = sop_class, sop_instance
    stand_in.file_meta = FileMetaDataset()
    stand_in.file_meta.TransferSyntaxUID = syntax
    dimse, dul = assoc.dimse, assoc.dul
    send_msg, send_pdu = dimse.send_msg, dul.send_pdu

    def from_the_file(primitive: C_STORE, context_id: int) -> None:
        primitive.DataSet = None
        primitive._dataset_path = (path, offset)
        send_msg(primitive, context_id)

    def padded(pdu: object) -> None:
        values = pdu.presentation_data_value_list if isinstance(pdu, P_DATA) else []
        for n, (context_id, value) in enumerate(values):
            if value[0] == _LAST_DATA_FRAGMENT:
                values[n] = (context_id, value + b"\x00")
        send_pdu(pdu)

    dimse.send_msg = from_the_file  # type: ignore[method-assign]
    if odd and syntax == DeflatedExplicitVRLittleEndian:
        dul.send_pdu = padded  # type: ignore[method-assign]
    try:
        return assoc.send_c_store(stand_in)
    finally:
        dimse.send_msg = send_msg  # type: ignore[method-assign]
        dul.send_pdu = send_pdu  # type: ignore[method-assign]
