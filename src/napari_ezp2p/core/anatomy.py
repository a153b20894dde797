"""Which body parts are paired, and the Laterality a series of them may carry.

General Series Laterality (0020,0060) is Type 2C: required, possibly empty, when the
Body Part Examined is a paired structure; absent otherwise. Its enumerated values are
R and L only: the standard has no value for both sides (Image Laterality has B and U,
but it is not in the Secondary Capture IOD), so "both" or "unknown" is an empty value.
"""

from __future__ import annotations

from .errors import ConversionError

#: Body Part Examined defined terms (PS3.16 Annex L, CID 4031 Common Anatomic Regions)
#: of structures that come in a left and a right one, as dciodvfy (dicom3tools 2022)
#: knows them: it asks for Laterality for each, and refuses it for the terms it holds
#: unpaired (tests/core/test_anatomy.py checks both).
PAIRED_BODY_PARTS = frozenset(
    {
        "ADRENAL",
        "ANKLE",
        "ARM",
        "AXILLA",
        "BREAST",
        "BUTTOCK",
        "CALCANEUS",
        "CALF",
        "CAROTID",
        "CHEEK",
        "CLAVICLE",
        "CORNEA",
        "EAR",
        "ELBOW",
        "EXTREMITY",
        "EYE",
        "EYELID",
        "FEMUR",
        "FINGER",
        "FOOT",
        "HAND",
        "HIP",
        "HUMERUS",
        "IAC",
        "KIDNEY",
        "KNEE",
        "LEG",
        "LUNG",
        "ORBIT",
        "OVARY",
        "PAROTID",
        "PATELLA",
        "RIB",
        "SCAPULA",
        "SCLERA",
        "SHOULDER",
        "SUBMANDIBULAR",
        "TESTIS",
        "THIGH",
        "THUMB",
        "TMJ",
        "TOE",
        "WRIST",
        "ZYGOMA",
    }
)

#: The General Series Laterality values: right and left.
LATERALITIES = ("R", "L")


def is_paired(body_part: str) -> bool:
    """Whether ``body_part`` (a Body Part Examined term) names a paired structure."""
    return body_part.strip().upper() in PAIRED_BODY_PARTS


def laterality_applies(body_part: str) -> bool:
    """Whether a series of ``body_part`` carries Laterality: for a paired structure, and
    when no body part is given (then the side, if known, is all that says where)."""
    return not body_part.strip() or is_paired(body_part)


def check_laterality(laterality: str, body_part: str) -> None:
    """Raise ConversionError unless ``laterality`` is empty, R or L, and fits ``body_part``.

    A side given for an unpaired body part is refused rather than dropped: the object
    would contradict itself, and a value the user typed must not vanish.
    """
    if not laterality:
        return
    if laterality not in LATERALITIES:
        raise ConversionError(
            f"Laterality {laterality!r}: the series laterality is R (right) or L (left); "
            "leave it empty for both sides or when unknown"
        )
    if not laterality_applies(body_part):
        raise ConversionError(
            f"Laterality {laterality!r}: Body Part Examined {body_part!r} is not a paired "
            "structure, so the series has no laterality; leave it empty, or give a paired "
            f"body part ({', '.join(sorted(PAIRED_BODY_PARTS)[:6])}, …)"
        )
