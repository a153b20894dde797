"""The local PACS's application entity: what it offers, to whom, and its limits.

It offers Verification; Storage of every storage class pynetdicom knows, in every
transfer syntax pynetdicom knows (deflated included), also in the SCU role for C-GET;
Patient Root and Study Root Query/Retrieve FIND, GET and MOVE; Modality Worklist FIND.
As an acceptor it is not bound by the 128 presentation contexts a requestor may propose.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts
from pynetdicom.sop_class import (
    ModalityWorklistInformationFind,
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from ..core.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from ..net.destination import DEFAULT_MAX_PDU, check_ae_title

DEFAULT_SERVER_AE_TITLE = "EZP2P-PACS"
UNCOMPRESSED = [ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian]
QUERY_RETRIEVE_MODELS = (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    ModalityWorklistInformationFind,
)
STORAGE_CLASSES = tuple(dict.fromkeys(c.abstract_syntax for c in AllStoragePresentationContexts))


@dataclass(frozen=True)
class ServerLimits:
    """What one peer may hold of the server.

    ``max_associations`` at once (connections still negotiating count); from the TCP
    connection to a complete A-ASSOCIATE-RQ at most ``negotiation_timeout`` seconds;
    from a PDU's first byte to its last at most ``pdu_timeout``; an established
    association with no PDU for ``idle_timeout`` is aborted. Answers to our own
    requests (C-STORE sub-operations of C-GET and C-MOVE) wait ``dimse_timeout``.
    """

    max_associations: int = 32
    negotiation_timeout: float = 10.0
    pdu_timeout: float = 30.0
    idle_timeout: float = 60.0
    dimse_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.max_associations < 1:
            raise ValueError(f"{self.max_associations} associations at once: use 1 or more")


def make_ae(
    ae_title: str = DEFAULT_SERVER_AE_TITLE,
    max_pdu: int = DEFAULT_MAX_PDU,
    limits: ServerLimits | None = None,
    any_called_aet: bool = False,
) -> AE:
    """The server's application entity with all its presentation contexts.

    It refuses associations addressed to another AE title unless ``any_called_aet``.
    """
    ae = AE(ae_title=check_ae_title(ae_title))
    ae.implementation_class_uid = IMPLEMENTATION_CLASS_UID
    ae.implementation_version_name = IMPLEMENTATION_VERSION_NAME
    ae.maximum_pdu_size = max_pdu
    ae.require_called_aet = not any_called_aet
    limits = limits or ServerLimits()
    ae.maximum_associations = limits.max_associations
    ae.acse_timeout = limits.negotiation_timeout
    ae.network_timeout = limits.idle_timeout
    ae.dimse_timeout = limits.dimse_timeout
    ae.connection_timeout = limits.negotiation_timeout
    for abstract in STORAGE_CLASSES:
        ae.add_supported_context(abstract, ALL_TRANSFER_SYNTAXES, scu_role=True, scp_role=True)
    ae.add_supported_context(Verification, UNCOMPRESSED)
    for model in QUERY_RETRIEVE_MODELS:
        ae.add_supported_context(model, UNCOMPRESSED)
    return ae
