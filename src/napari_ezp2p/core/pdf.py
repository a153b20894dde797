"""Encapsulated PDF objects: a PDF document stored as it is, in a DICOM wrapper.

The PDF bytes are kept byte for byte; the object carries the same patient, study and
equipment values as our Secondary Capture objects (the helpers of :mod:`.sc` write them).
"""

from __future__ import annotations

from datetime import datetime

from pydicom import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from .errors import ConversionError
from .identity import MANUFACTURER, SOFTWARE_VERSION, new_uid
from .metadata import (
    Metadata,
    burned_in_annotation,
    charset_terms,
    check_value,
    set_specific_character_set,
)
from .sc import (
    complete_metadata,
    contributing_equipment,
    file_meta_for,
    record_coerced_values,
    set_patient_study_series,
)

ENCAPSULATED_PDF = UID("1.2.840.10008.5.1.4.1.1.104.1")
PDF_MIME_TYPE = "application/pdf"
#: The modality of an Encapsulated PDF: a document has a series of its own.
DOCUMENT_MODALITY = "DOC"
#: A document is text about the patient: Burned In Annotation YES unless the user says NO.
DOCUMENT_BURNED_IN = True

#: A PDF starts with this header; readers look for ``%%EOF`` in its last 1024 bytes.
PDF_MAGIC = b"%PDF-"
_EOF_MARKER = b"%%EOF"
_EOF_WINDOW = 1024

#: Written by the shared helpers for the General Series / Image modules, which the
#: Encapsulated PDF IOD does not have (its series module is Encapsulated Document Series).
_NOT_IN_IOD = ("Laterality", "SeriesDate", "SeriesTime", "AcquisitionDate", "AcquisitionTime")


def check_pdf_bytes(data: bytes) -> None:
    """Raise ConversionError unless ``data`` looks like a whole PDF file.

    It must start with ``%PDF-`` and have the ``%%EOF`` marker in its last 1024 bytes
    (a file cut short in a download or a copy has not).
    """
    if not data:
        raise ConversionError("EncapsulatedDocument: the PDF is empty (0 bytes)")
    if not data.startswith(PDF_MAGIC):
        raise ConversionError(
            f"EncapsulatedDocument: not a PDF (it starts with {data[:8]!r}, not b'%PDF-')"
        )
    if _EOF_MARKER not in data[-_EOF_WINDOW:]:
        raise ConversionError(
            "EncapsulatedDocument: the PDF is truncated (no %%EOF marker at its end)"
        )


def build_encapsulated_pdf(
    pdf_bytes: bytes,
    meta: Metadata,
    *,
    document_title: str = "",
    now: datetime | None = None,
    instance_number: int = 1,
    sop_instance_uid: str | None = None,
) -> Dataset:
    """An Encapsulated PDF Storage object holding ``pdf_bytes``, in explicit VR little endian.

    ``meta`` is completed with :func:`~.sc.complete_metadata` (completing it again is
    harmless, so metadata shared by a batch may be given). The series Modality is always
    "DOC": give the document its own series rather than the series of images. The
    Conversion Type is ``meta.conversion_type``, or "SD" (scanned document).
    Raises ConversionError when the bytes are not a whole PDF or a value cannot be written.
    """
    pdf_bytes = bytes(pdf_bytes)
    check_pdf_bytes(pdf_bytes)
    now = now or datetime.now()
    meta = complete_metadata(meta, now)
    terms = charset_terms(meta.charset)
    check_value("DocumentTitle", document_title, terms)
    if not 0 <= instance_number <= 2**31 - 1:
        raise ConversionError(f"InstanceNumber: {instance_number} is out of range")
    conversion_type = meta.conversion_type or "SD"
    sop_instance_uid = UID(sop_instance_uid or new_uid())

    ds = Dataset()
    ds.file_meta = file_meta_for(ENCAPSULATED_PDF, sop_instance_uid)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    set_specific_character_set(ds, meta.charset)
    ds.SOPClassUID = ENCAPSULATED_PDF
    ds.SOPInstanceUID = sop_instance_uid
    set_patient_study_series(ds, meta, now)
    for keyword in _NOT_IN_IOD:
        if keyword in ds:
            delattr(ds, keyword)
    ds.Modality = DOCUMENT_MODALITY
    # General Equipment and SC Equipment.
    ds.ConversionType = conversion_type
    ds.Manufacturer = MANUFACTURER
    ds.SecondaryCaptureDeviceManufacturer = MANUFACTURER
    ds.SecondaryCaptureDeviceManufacturerModelName = MANUFACTURER
    ds.SecondaryCaptureDeviceSoftwareVersions = SOFTWARE_VERSION
    equipment = contributing_equipment(
        meta, conversion_type, now, "Encapsulated in DICOM Encapsulated PDF"
    )
    ds.ContributingEquipmentSequence = [equipment]
    # Encapsulated Document.
    ds.InstanceNumber = instance_number
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = burned_in_annotation(meta, DOCUMENT_BURNED_IN)
    ds.DocumentTitle = document_title
    ds.ConceptNameCodeSequence = []
    ds.MIMETypeOfEncapsulatedDocument = PDF_MIME_TYPE
    # OB values have even length: one trailing NUL pads an odd PDF; the length says
    # how many bytes are the document's own.
    ds.EncapsulatedDocument = pdf_bytes + b"\0" * (len(pdf_bytes) % 2)
    ds.EncapsulatedDocumentLength = len(pdf_bytes)
    record_coerced_values(ds, meta, now)
    return ds


def encapsulated_pdf_bytes(ds: Dataset) -> bytes:
    """The PDF held by an Encapsulated PDF object, without the pad byte."""
    data = bytes(ds.EncapsulatedDocument)
    length = ds.get("EncapsulatedDocumentLength")
    if length is not None:
        return data[:length]
    # Older objects have no length: the pad byte is a NUL after the %%EOF line.
    return data[:-1] if len(data) % 2 == 0 and data.endswith(b"\0") else data
