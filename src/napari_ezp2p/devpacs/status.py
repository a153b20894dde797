"""The DIMSE statuses the local PACS answers with (PS3.4 annexes B and C, PS3.7 annex C)."""

from __future__ import annotations

from pydicom import Dataset

SUCCESS = 0x0000
PENDING = 0xFF00
CANCEL = 0xFE00
STORE_CANNOT_UNDERSTAND = 0xC000
STORE_OUT_OF_RESOURCES = 0xA700
FIND_IDENTIFIER_MISMATCH = 0xA900
FIND_UNABLE_TO_PROCESS = 0xC000
FIND_OUT_OF_RESOURCES = 0xA700
RETRIEVE_IDENTIFIER_MISMATCH = 0xA900


def status(code: int, comment: str) -> Dataset:
    """A status with an error comment (cut to the 64 characters of its LO)."""
    answer = Dataset()
    answer.Status = code
    answer.ErrorComment = comment[:64]
    return answer
