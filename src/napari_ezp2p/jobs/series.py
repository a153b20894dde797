"""One series per modality: the objects of one job, grouped as a PACS expects them."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

from ..capture.pdf import is_pdf_file
from ..core.errors import ConversionError
from ..core.identity import new_uid
from ..core.metadata import Metadata
from ..core.pdf import DOCUMENT_MODALITY
from ..core.sc import complete_metadata


def modality_of_file(path: Path, meta: Metadata) -> str:
    """The Modality the object of ``path`` gets: DOC for a PDF, else ``meta``'s."""
    return DOCUMENT_MODALITY if is_pdf_file(path) else meta.modality


def job_series(meta: Metadata, now: datetime) -> tuple[Metadata, SeriesByModality]:
    """``meta`` completed once for a job (``complete_metadata``), and its series by modality."""
    completed = complete_metadata(meta, now)
    return completed, SeriesByModality(completed, given=bool(meta.series_instance_uid))


class SeriesByModality:
    """The series of each modality of one job: the same modality, the same series.

    ``meta`` comes from ``complete_metadata``. Its modality keeps its Series Instance
    UID and number; each other modality, in the order its first object comes, gets a
    new UID and the next number. A Series Instance UID the user gave (``given``:
    attaching to an existing series) is that of ``meta.modality`` alone: an object of
    another modality is refused, as one series holds one modality.
    """

    def __init__(self, meta: Metadata, *, given: bool) -> None:
        self._given = given
        self._first = meta
        self._series = {meta.modality: (meta.series_instance_uid, meta.series_number)}

    def of(self, meta: Metadata, modality: str) -> Metadata:
        """``meta`` with the series of ``modality``."""
        if modality not in self._series:
            if self._given:
                raise ConversionError(
                    f"SeriesInstanceUID {self._first.series_instance_uid} was given for the "
                    f"series of Modality {self._first.modality}; one series holds one "
                    f"modality, so this {modality} object cannot join it: send it apart"
                )
            number = max(number for _, number in self._series.values()) + 1
            if number > 2**31 - 1:
                raise ConversionError(f"SeriesNumber: {number} is out of range")
            self._series[modality] = (new_uid(), number)
        uid, number = self._series[modality]
        return dataclasses.replace(meta, series_instance_uid=uid, series_number=number)
