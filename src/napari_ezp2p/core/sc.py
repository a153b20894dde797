"""Secondary Capture objects: single-frame SC and the multi-frame SC family."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import UID
from pydicom.valuerep import format_number_as_ds

from .anatomy import laterality_applies
from .errors import ConversionError
from .identity import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    MANUFACTURER,
    SOFTWARE_VERSION,
    new_uid,
)
from .image import SourceImage
from .metadata import (
    GENERATED_ISSUER,
    TEXT_ATTRIBUTES,
    Metadata,
    burned_in_annotation,
    charset_terms,
    check_metadata,
    default_patient_id,
    parse_date,
    patient_age,
    set_specific_character_set,
)
from .request import check_request, set_request_attributes
from .transfer import TransferSyntax

SECONDARY_CAPTURE = UID("1.2.840.10008.5.1.4.1.1.7")
MULTIFRAME_GRAYSCALE_BYTE = UID("1.2.840.10008.5.1.4.1.1.7.2")
MULTIFRAME_GRAYSCALE_WORD = UID("1.2.840.10008.5.1.4.1.1.7.3")
MULTIFRAME_TRUE_COLOUR = UID("1.2.840.10008.5.1.4.1.1.7.4")
SC_CLASSES = (
    SECONDARY_CAPTURE,
    MULTIFRAME_GRAYSCALE_BYTE,
    MULTIFRAME_GRAYSCALE_WORD,
    MULTIFRAME_TRUE_COLOUR,
)


class _Code(NamedTuple):
    value: str
    scheme_designator: str
    meaning: str


#: The contributing equipment's purpose, by Conversion Type (DICOM CID 7005). Written
#: out rather than taken from ``pydicom.sr.codedict``, whose import costs 0.15-0.25 s.
_EQUIPMENT_PURPOSE = {
    "DF": _Code("FILMD", "DCM", "Film Digitizer"),
    "SD": _Code("DOCD", "DCM", "Document Digitizer Equipment"),
    "DV": _Code("VIDD", "DCM", "Video Tape Digitizer Equipment"),
    "WSD": _Code("WSD", "DCM", "Workstation"),
    "DI": _Code("MEDIM", "DCM", "Portable Media Importer Equipment"),
}

_FRAME_TIME = 0x00181063
_PAGE_NUMBER_VECTOR = 0x00182001


def complete_metadata(meta: Metadata, now: datetime) -> Metadata:
    """A copy of ``meta`` with what a batch must share filled in once.

    New Study and Series Instance UIDs where none are given, the default Patient ID
    (the inverted date-time, its issuer GENERATED_ISSUER). A new study (no Study
    Instance UID given, or the one a worklist item schedules now) is dated now, with
    Study ID "1" (a worklist item's: its Requested Procedure ID); a new series too. An
    existing study or series keeps what ``meta`` knows of it: a date not known stays
    empty rather than a guess. Checks every value first.
    """
    check_metadata(meta)
    check_request(meta.request, charset_terms(meta.charset))
    today, this_time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    new_study = not meta.study_instance_uid or meta.request is not None
    new_series = not meta.series_instance_uid
    scheduled_id = str(meta.request.get("RequestedProcedureID", "")) if meta.request else ""
    return dataclasses.replace(
        meta,
        study_instance_uid=meta.study_instance_uid or new_uid(),
        series_instance_uid=meta.series_instance_uid or new_uid(),
        study_date=meta.study_date or (today if new_study else ""),
        study_time=meta.study_time or (this_time if new_study else ""),
        series_date=meta.series_date or (today if new_series else ""),
        series_time=meta.series_time or (this_time if new_series else ""),
        patient_id=meta.patient_id or default_patient_id(now),
        issuer_of_patient_id=meta.issuer_of_patient_id if meta.patient_id else GENERATED_ISSUER,
        study_id=meta.study_id or ((scheduled_id or "1") if new_study else ""),
    )


def sop_class_for(image: SourceImage, multiframe: bool) -> UID:
    """Single-frame SC, or the multi-frame SC class that fits the pixels."""
    if not multiframe:
        return SECONDARY_CAPTURE
    if image.is_colour:
        return MULTIFRAME_TRUE_COLOUR
    return MULTIFRAME_GRAYSCALE_BYTE if image.pixels.itemsize == 1 else MULTIFRAME_GRAYSCALE_WORD


def build_sc(
    image: SourceImage,
    meta: Metadata,
    ts: TransferSyntax,
    *,
    instance_number: int = 1,
    now: datetime | None = None,
    sop_instance_uid: str | None = None,
    on_frame: Callable[[int, int], None] | None = None,
) -> Dataset:
    """A complete Secondary Capture object of ``image``, encoded in ``ts`` (``on_frame``:
    see :func:`.pixels.set_pixel_data`).

    ``meta`` must come from :func:`complete_metadata` (shared by every image of the
    batch). Several frames make a multi-frame SC; one frame a single-frame SC.
    """
    if not (meta.study_instance_uid and meta.series_instance_uid and meta.patient_id):
        raise ValueError("build_sc needs metadata from complete_metadata()")
    now = now or datetime.now()
    conversion_type = meta.conversion_type or image.conversion_type
    multiframe = image.frames > 1
    sop_class = sop_class_for(image, multiframe)
    sop_instance_uid = UID(sop_instance_uid or new_uid())

    ds = Dataset()
    ds.file_meta = file_meta_for(sop_class, sop_instance_uid)
    set_specific_character_set(ds, meta.charset)
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance_uid
    set_patient_study_series(ds, meta, now)
    ds.ConversionType = conversion_type
    ds.Manufacturer = MANUFACTURER
    ds.DateOfSecondaryCapture = ds.ContentDate
    ds.TimeOfSecondaryCapture = ds.ContentTime
    ds.SecondaryCaptureDeviceManufacturer = MANUFACTURER
    ds.SecondaryCaptureDeviceManufacturerModelName = MANUFACTURER
    ds.SecondaryCaptureDeviceSoftwareVersions = SOFTWARE_VERSION
    ds.DigitalImageFormatAcquired = f"{image.source_format or 'Bitmap'} import"
    ds.ContributingEquipmentSequence = [contributing_equipment(meta, conversion_type, now)]
    ds.InstanceNumber = instance_number
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = burned_in_annotation(meta, image.burned_in_annotation)

    spacing = meta.pixel_spacing or image.pixel_spacing
    if spacing and conversion_type in ("DF", "SD"):
        ds.NominalScannedPixelSpacing = [round(v, 6) for v in spacing]
    elif multiframe and conversion_type == "DF":
        raise ConversionError(
            "NominalScannedPixelSpacing: a multi-frame film scan (Conversion Type DF) needs "
            "the scan resolution; give the pixel spacing, or another conversion type"
        )
    from .pixels import set_pixel_data  # the encoders: not for who only completes metadata

    set_pixel_data(ds, image, ts, multiframe=multiframe, on_frame=on_frame)
    _set_grey_presentation(ds, image, meta, multiframe)
    if multiframe:
        _set_frame_increment(ds, image, meta, conversion_type)
    record_coerced_values(ds, meta, now)
    return ds


def file_meta_for(sop_class: UID, sop_instance_uid: UID) -> FileMetaDataset:
    """File meta information with our implementation identity."""
    file_meta = FileMetaDataset()
    file_meta.MediaStorageSOPClassUID = sop_class
    file_meta.MediaStorageSOPInstanceUID = sop_instance_uid
    file_meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    file_meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return file_meta


def set_patient_study_series(ds: Dataset, meta: Metadata, now: datetime) -> None:
    """Patient, General Study, General Series, General Equipment and dates/times."""
    today, this_time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    for name, keyword in TEXT_ATTRIBUTES.items():
        value = getattr(meta, name)
        if value or keyword not in _TYPE_3_TEXT:
            setattr(ds, keyword, value)
    if meta.birth_date and meta.study_date:  # Patient Age (Type 3) needs a study date
        study_date = parse_date("StudyDate", meta.study_date)
        ds.PatientAge = patient_age(parse_date("PatientBirthDate", meta.birth_date), study_date)
    if laterality_applies(meta.body_part):
        ds.Laterality = meta.laterality
    ds.SeriesNumber = meta.series_number
    if meta.series_date:  # Type 3: an existing series' date, if known
        ds.SeriesDate, ds.SeriesTime = meta.series_date, meta.series_time
    ds.AcquisitionDate = ds.ContentDate = today
    ds.AcquisitionTime = ds.ContentTime = this_time
    set_request_attributes(ds, meta.request, meta.accession_number)
    ds.PerformedProcedureStepStartDate = meta.study_date
    ds.PerformedProcedureStepStartTime = meta.study_time


#: Text attributes written only when they have a value (Type 3 in the SC IOD).
_TYPE_3_TEXT = {
    "IssuerOfPatientID",
    "StudyDescription",
    "SeriesDescription",
    "BodyPartExamined",
    "InstitutionName",
    "InstitutionAddress",
    "StationName",
}


def contributing_equipment(
    meta: Metadata,
    conversion_type: str,
    now: datetime,
    description: str = "Converted to DICOM Secondary Capture",
) -> Dataset:
    """The Contributing Equipment item: us, when, and why (by conversion type)."""
    purpose = _EQUIPMENT_PURPOSE[conversion_type]
    code = Dataset()
    code.CodeValue = purpose.value
    code.CodingSchemeDesignator = purpose.scheme_designator
    code.CodeMeaning = purpose.meaning
    item = Dataset()
    item.PurposeOfReferenceCodeSequence = [code]
    item.Manufacturer = MANUFACTURER
    item.ManufacturerModelName = MANUFACTURER
    item.SoftwareVersions = SOFTWARE_VERSION
    if meta.institution_name:
        item.InstitutionName = meta.institution_name
    if meta.station_name:
        item.StationName = meta.station_name
    item.ContributionDateTime = now.strftime("%Y%m%d%H%M%S")
    item.ContributionDescription = description
    return item


def _set_grey_presentation(
    ds: Dataset, image: SourceImage, meta: Metadata, multiframe: bool
) -> None:
    """Window and rescale for grey images; the identity ones multi-frame grey needs."""
    if image.is_colour:
        if meta.window or meta.rescale:
            raise ConversionError("WindowCenter/RescaleSlope apply to grey images, not colour")
        return
    if meta.rescale or multiframe:
        slope, intercept = meta.rescale or (1.0, 0.0)
        ds.RescaleIntercept = _ds_value(intercept)
        ds.RescaleSlope = _ds_value(slope)
        ds.RescaleType = "US"
    if meta.window:
        centre, width = meta.window
        ds.WindowCenter = _ds_value(centre)
        ds.WindowWidth = _ds_value(width)
        if meta.voi_lut_function:
            ds.VOILUTFunction = meta.voi_lut_function
    if multiframe:
        ds.PresentationLUTShape = "IDENTITY"


def _ds_value(value: float) -> str:
    """A decimal string of at most 16 characters, as precise as DS allows."""
    return format_number_as_ds(float(value))


def _set_frame_increment(
    ds: Dataset, image: SourceImage, meta: Metadata, conversion_type: str
) -> None:
    """Frames of a clip advance in time; pages of a scan by page number."""
    if meta.frame_time_ms or conversion_type == "DV":
        frame_time = meta.frame_time_ms or 1000 / 30
        ds.FrameTime = _ds_value(frame_time)
        ds.CineRate = round(1000 / frame_time)
        ds.FrameIncrementPointer = _FRAME_TIME
    else:
        ds.PageNumberVector = list(range(1, image.frames + 1))
        ds.FrameIncrementPointer = _PAGE_NUMBER_VECTOR


#: The Metadata field of each queried keyword.
_FIELD_OF = {
    **{keyword: name for name, keyword in TEXT_ATTRIBUTES.items()},
    "SeriesDate": "series_date",
    "SeriesTime": "series_time",
}


def record_coerced_values(ds: Dataset, meta: Metadata, now: datetime) -> None:
    """Values changed after a query came back go in the Original Attributes Sequence:
    one item of those the operator changed in ``meta`` (CORRECT), one of those ``meta``
    still holds as queried but the object does not (COERCE: we made them fit)."""
    previous = {"CORRECT": Dataset(), "COERCE": Dataset()}
    for keyword, value in meta.queried.items():
        if str(ds.get(keyword, "")) != str(value):
            field = _FIELD_OF.get(keyword)
            given = str(getattr(meta, field)) if field else str(value)
            reason = "COERCE" if given == str(value) else "CORRECT"
            setattr(previous[reason], keyword, value)
    items = []
    for reason, values in previous.items():
        if not values:
            continue
        item = Dataset()
        item.ModifiedAttributesSequence = [values]
        item.AttributeModificationDateTime = now.strftime("%Y%m%d%H%M%S")
        item.ModifyingSystem = SOFTWARE_VERSION
        item.SourceOfPreviousValues = ""
        item.ReasonForTheAttributeModification = reason
        items.append(item)
    if items:
        ds.OriginalAttributesSequence = items
