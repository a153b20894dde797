"""Who and what an object is about: patient, study and series values, checked before use.

Every text value is checked against its VR (length, form) and against the chosen
Specific Character Set before anything is built, so a bad value is an error that names
the attribute rather than a mangled object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from pydicom import Dataset, config
from pydicom.charset import convert_encodings, custom_encoders
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.valuerep import validate_value

from .anatomy import check_laterality
from .errors import ConversionError

DEFAULT_CHARSET = "ISO_IR 192"

#: Specific Character Set terms we offer; ISO 2022 multi-byte sets get the ASCII
#: default repertoire as their first value, as the standard's examples do.
CHARSETS = {
    "ISO_IR 6": "ASCII",
    "ISO_IR 100": "Latin-1 (Western Europe)",
    "ISO_IR 101": "Latin-2 (Central Europe)",
    "ISO_IR 109": "Latin-3",
    "ISO_IR 110": "Latin-4",
    "ISO_IR 144": "Cyrillic",
    "ISO_IR 127": "Arabic",
    "ISO_IR 126": "Greek",
    "ISO_IR 138": "Hebrew",
    "ISO_IR 148": "Latin-5 (Turkish)",
    "ISO_IR 166": "Thai",
    "ISO_IR 13": "Japanese katakana (JIS X 0201)",
    "ISO_IR 192": "Unicode UTF-8",
    "GB18030": "Chinese GB18030",
    "ISO 2022 IR 87": "Japanese kanji (JIS X 0208), with code extensions",
    "ISO 2022 IR 13\\ISO 2022 IR 87": "Japanese katakana and kanji, with code extensions",
    "ISO 2022 IR 87\\ISO 2022 IR 159": (
        "Japanese kanji and supplementary kanji (JIS X 0208, JIS X 0212), with code extensions"
    ),
    "ISO 2022 IR 149": "Korean (KS X 1001), with code extensions",
}

_MULTI_BYTE_EXTENSIONS = {"ISO 2022 IR 87", "ISO 2022 IR 159", "ISO 2022 IR 149"}
#: Terms pydicom knows that we do not offer, and why.
_REFUSED = {
    "ISO 2022 IR 58": (
        "pydicom writes its GB 2312 bytes without the ESC $ ) A designation and keeps that "
        "sequence in the text it reads, so names would be garbled; for Chinese choose "
        "GB18030 or ISO_IR 192 (UTF-8)"
    ),
    "GBK": (
        "dciodvfy does not know it and refuses every Chinese character in it; choose GB18030, "
        "which writes the same bytes for every GBK character"
    ),
    "ISO 2022 IR 100": (
        "pydicom writes its Latin-1 bytes without the ESC - A designation, and dcmtk and "
        "dciodvfy refuse them; choose ISO_IR 100, the same characters"
    ),
}
_ASCII_DEFAULTS = ("", "ISO_IR 6", "ISO 2022 IR 6")


def charset_terms(charset: str) -> list[str]:
    """The Specific Character Set values for ``charset`` ("ISO 2022 IR 87" -> ["", ...])."""
    terms = [term.strip() for term in charset.split("\\")]
    refused = [t for t in terms if t in _REFUSED]
    if refused:
        raise ConversionError(
            f"Specific Character Set {charset!r}: {refused[0]} is not offered: "
            f"{_REFUSED[refused[0]]}"
        )
    if terms[0] in _MULTI_BYTE_EXTENSIONS:
        terms.insert(0, "")
    unknown = [t for t in terms if t and t not in _known_terms()]
    if unknown:
        raise ConversionError(
            f"Specific Character Set {charset!r}: unknown term {unknown[0]!r}; "
            f"choose one of: {', '.join(CHARSETS)}"
        )
    return terms


def set_specific_character_set(ds, charset: str) -> None:
    """Specific Character Set of ``charset`` on ``ds``, left out for the default repertoire.

    ISO_IR 6 is no defined term of the attribute (PS3.3 C.12.1.1.2): its absence means
    the default repertoire, and dcmtk and dciodvfy warn about the term written.
    """
    terms = charset_terms(charset)
    if terms != ["ISO_IR 6"]:
        ds.SpecificCharacterSet = terms


def _known_terms() -> set[str]:
    from pydicom.charset import python_encoding

    return set(python_encoding)


@dataclass
class Metadata:
    """Patient, study, series and equipment values of the objects to build.

    Empty strings mean "not known" (written empty where the attribute is Type 2).
    Dates are ``YYYYMMDD``; an empty study (series) date/time means "now" for a new
    study (series) and "not known" for an existing one (see ``sc.complete_metadata``).
    ``queried`` holds values as a worklist or PACS query returned them, keyed by
    DICOM keyword; any that differ in the object go in its Original Attributes
    Sequence, as the operator's correction (CORRECT) when this Metadata holds another
    value, as coerced by us (COERCE) when it holds the queried one and the object
    does not. ``request`` is the Request Attributes item of the worklist order.
    ``laterality`` is R, L or empty (see :mod:`.anatomy`). ``burned_in_annotation`` is
    the user's word on Burned In Annotation; None leaves it to the source.
    """

    patient_name: str = ""
    patient_id: str = ""
    issuer_of_patient_id: str = ""
    birth_date: str = ""
    sex: str = ""
    accession_number: str = ""
    referring_physician: str = ""
    study_description: str = ""
    study_id: str = ""
    study_instance_uid: str = ""
    study_date: str = ""
    study_time: str = ""
    series_description: str = ""
    series_instance_uid: str = ""
    series_number: int = 1
    series_date: str = ""
    series_time: str = ""
    modality: str = "OT"
    body_part: str = ""
    laterality: str = ""
    institution_name: str = ""
    institution_address: str = ""
    station_name: str = ""
    charset: str = DEFAULT_CHARSET
    conversion_type: str = ""
    window: tuple[float, float] | None = None
    voi_lut_function: str = ""  # "" (LINEAR) or "LINEAR_EXACT": how the window maps
    rescale: tuple[float, float] | None = None
    pixel_spacing: tuple[float, float] | None = None
    frame_time_ms: float | None = None
    burned_in_annotation: bool | None = None
    queried: dict[str, str] = field(default_factory=dict)
    request: Dataset | None = None


#: Metadata text fields and the DICOM keyword each one becomes.
TEXT_ATTRIBUTES = {
    "patient_name": "PatientName",
    "patient_id": "PatientID",
    "issuer_of_patient_id": "IssuerOfPatientID",
    "birth_date": "PatientBirthDate",
    "sex": "PatientSex",
    "accession_number": "AccessionNumber",
    "referring_physician": "ReferringPhysicianName",
    "study_description": "StudyDescription",
    "study_id": "StudyID",
    "study_instance_uid": "StudyInstanceUID",
    "study_date": "StudyDate",
    "study_time": "StudyTime",
    "series_description": "SeriesDescription",
    "series_instance_uid": "SeriesInstanceUID",
    "modality": "Modality",
    "body_part": "BodyPartExamined",
    "institution_name": "InstitutionName",
    "institution_address": "InstitutionAddress",
    "station_name": "StationName",
}

SEXES = ("", "M", "F", "O")


def check_metadata(meta: Metadata) -> None:
    """Raise ConversionError naming the first attribute whose value cannot be written."""
    terms = charset_terms(meta.charset)
    if not meta.modality.strip():
        raise ConversionError("Modality: empty, but it is required (Type 1); give one, e.g. OT")
    for name, keyword in TEXT_ATTRIBUTES.items():
        check_value(keyword, getattr(meta, name), terms)
    check_laterality(meta.laterality, meta.body_part)
    _check_queried(meta.queried, terms)
    if meta.sex not in SEXES:
        raise ConversionError(f"PatientSex: {meta.sex!r} is not one of M, F, O or empty")
    for name in ("birth_date", "study_date"):
        if getattr(meta, name):
            parse_date(TEXT_ATTRIBUTES[name], getattr(meta, name))
    if meta.window is not None and meta.window[1] <= 0:
        raise ConversionError(f"WindowWidth: must be greater than 0, got {meta.window[1]}")
    if meta.rescale is not None and meta.rescale[0] == 0:
        raise ConversionError("RescaleSlope: must not be 0")
    if meta.pixel_spacing is not None and min(meta.pixel_spacing) <= 0:
        raise ConversionError(f"NominalScannedPixelSpacing: must be > 0, got {meta.pixel_spacing}")
    if not 0 <= meta.series_number <= 2**31 - 1:
        raise ConversionError(f"SeriesNumber: {meta.series_number} is out of range")


def burned_in_annotation(meta: Metadata, source_default: bool) -> str:
    """Burned In Annotation, YES or NO: the user's word, else the source's default."""
    burned_in = source_default if meta.burned_in_annotation is None else meta.burned_in_annotation
    return "YES" if burned_in else "NO"


def check_value(keyword: str, value: str, charset: list[str]) -> None:
    """Check ``value`` fits the VR of ``keyword`` and is encodable in ``charset``."""
    if not value:
        return
    vr = dictionary_VR(tag_for_keyword(keyword))
    where = f"{keyword} {value!r}"
    try:
        validate_value(vr, value, config.RAISE)
    except ValueError as error:
        raise ConversionError(f"{where}: {error}") from None
    if vr == "PN":
        _check_person_name(where, value)
    if vr in ("PN", "LO", "SH", "ST", "LT", "UT", "UC"):
        _check_encodable(where, value, vr, charset)


def _check_queried(queried: dict[str, str], terms: list[str]) -> None:
    """Queried values may go in the Original Attributes Sequence: check them too."""
    for keyword, value in queried.items():
        try:
            check_value(keyword, str(value), terms)
        except ConversionError as error:
            raise ConversionError(
                f"OriginalAttributesSequence: the previous value from the query of {error}"
            ) from None


def _check_person_name(where: str, value: str) -> None:
    """pydicom checks groups and lengths; components per group are ours to check."""
    if any(len(group.split("^")) > 5 for group in value.split("=")):
        raise ConversionError(
            f"{where}: a name group has at most 5 components (family^given^middle^prefix^suffix)"
        )


def _check_encodable(where: str, value: str, vr: str, terms: list[str]) -> None:
    """Fail where pydicom's ``encode_string`` would substitute characters."""
    encodings = convert_encodings(terms)
    label = "\\".join(terms)
    if terms[0] in _ASCII_DEFAULTS:  # pydicom treats the default repertoire as Latin-1
        extensions = encodings[1:]
        for char in value:
            if ord(char) > 127 and not any(_encodes(char, enc) for enc in extensions):
                raise ConversionError(
                    f"{where}: character {char!r} cannot be encoded in "
                    f"Specific Character Set {label}"
                )
    if not all(_encodable(piece, encodings) for piece in _encoded_pieces(value, vr)):
        raise ConversionError(
            f"{where}: cannot be encoded in Specific Character Set {label}; "
            "choose ISO_IR 192 (UTF-8) or a set that covers these characters"
        )


def _encoded_pieces(value: str, vr: str) -> list[str]:
    """The pieces pydicom encodes one at a time: each value of a multi-valued VR, and
    of a person name each component of each group (ISO_IR 13 needs that: katakana and
    the "^" between them are encoded apart)."""
    values = value.split("\\") if vr in ("PN", "LO", "SH", "UC") else [value]
    if vr != "PN":
        return values
    return [part for name in values for group in name.split("=") for part in group.split("^")]


def _encodable(text: str, encodings: list[str]) -> bool:
    """Whether ``encode_string(text, encodings)`` needs no replacement characters.

    It encodes with one encoding when one covers the whole text, else (with code
    extensions) switches between them, which works when each character has one.
    """
    if len(encodings) == 1:
        return _encodes(text, encodings[0])
    return all(any(_encodes(char, enc) for enc in encodings) for char in text)


def _encodes(text: str, encoding: str) -> bool:
    """Whether pydicom encodes ``text`` in ``encoding`` (its own encoders for JIS sets)."""
    try:
        if encoding in custom_encoders:
            custom_encoders[encoding](text)
        else:
            text.encode(encoding)
    except (UnicodeError, LookupError):
        return False
    return True


def parse_date(keyword: str, value: str) -> date:
    """A DICOM DA value as a date, or ConversionError naming ``keyword``."""
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise ConversionError(f"{keyword} {value!r}: not a date of the form YYYYMMDD") from None


#: The Issuer of Patient ID that marks a Patient ID as ours, made by default_patient_id.
GENERATED_ISSUER = "EZP2P-GENERATED"


def default_patient_id(moment: datetime) -> str:
    """The inverted date-time: ``YYYYMMDDHHMMSSFFFFFF`` of ``moment``, read backwards.

    2026-11-29 15:30:12.345678 gives "87654321035192116202": the fastest-changing digits
    come first, so IDs made microseconds apart differ at the start and sort apart, and
    two patients entered in the same second get two IDs.
    """
    return moment.strftime("%Y%m%d%H%M%S%f")[::-1]


def patient_age(birth: date, on: date) -> str:
    """Age at ``on`` in DICOM AS form: days under a month, weeks under 3 months,
    months under 2 years, years after (e.g. "012D", "008W", "018M", "042Y")."""
    if birth > on:
        raise ConversionError(
            f"PatientBirthDate {birth:%Y%m%d} is after the study date {on:%Y%m%d}"
        )
    months = (on.year - birth.year) * 12 + on.month - birth.month - (on.day < birth.day)
    days = (on - birth).days
    if months < 1:
        return f"{days:03d}D"
    if months < 3:
        return f"{days // 7:03d}W"
    if months < 24:
        return f"{months:03d}M"
    return f"{min(months // 12, 999):03d}Y"
