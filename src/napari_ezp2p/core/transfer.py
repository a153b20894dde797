"""The DICOM transfer syntaxes napari-ezp2p can write, by command-line key or UID."""

from __future__ import annotations

from dataclasses import dataclass

from pydicom import uid

from .errors import ConversionError


@dataclass(frozen=True)
class TransferSyntax:
    """One transfer syntax: its command-line ``key``, UID, human label and nature."""

    key: str
    uid: uid.UID
    label: str
    lossless: bool
    encapsulated: bool


TRANSFER_SYNTAXES: tuple[TransferSyntax, ...] = (
    TransferSyntax(
        "implicit-le", uid.ImplicitVRLittleEndian, "Implicit VR Little Endian", True, False
    ),
    TransferSyntax(
        "explicit-le", uid.ExplicitVRLittleEndian, "Explicit VR Little Endian", True, False
    ),
    TransferSyntax("explicit-be", uid.ExplicitVRBigEndian, "Explicit VR Big Endian", True, False),
    TransferSyntax("jpeg-baseline", uid.JPEGBaseline8Bit, "JPEG Baseline (8-bit)", False, True),
    TransferSyntax("jpeg-extended", uid.JPEGExtended12Bit, "JPEG Extended (12-bit)", False, True),
    TransferSyntax("jpeg-lossless", uid.JPEGLossless, "JPEG Lossless (Process 14)", True, True),
    TransferSyntax(
        "jpeg-lossless-sv1", uid.JPEGLosslessSV1, "JPEG Lossless (Process 14, SV1)", True, True
    ),
    TransferSyntax("jpeg-ls", uid.JPEGLSLossless, "JPEG-LS Lossless", True, True),
    TransferSyntax("jpeg-ls-near", uid.JPEGLSNearLossless, "JPEG-LS Near-Lossless", False, True),
    TransferSyntax("rle", uid.RLELossless, "RLE Lossless", True, True),
    TransferSyntax("j2k-lossless", uid.JPEG2000Lossless, "JPEG 2000 Lossless", True, True),
    TransferSyntax("j2k", uid.JPEG2000, "JPEG 2000", False, True),
)

_BY_NAME = {ts.key: ts for ts in TRANSFER_SYNTAXES} | {str(ts.uid): ts for ts in TRANSFER_SYNTAXES}


def transfer_syntax(name_or_uid: str) -> TransferSyntax:
    """The transfer syntax with this key (``"jpeg-ls"``) or UID (``"1.2.840.10008.1.2.4.80"``)."""
    try:
        return _BY_NAME[name_or_uid.strip().lower()]
    except KeyError:
        keys = ", ".join(ts.key for ts in TRANSFER_SYNTAXES)
        raise ConversionError(
            f"unknown transfer syntax {name_or_uid!r}: use one of {keys} or their UIDs"
        ) from None
