"""The options every command shares (demographics, image, sending) and the context they give."""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Callable

from ..core.image import CONVERSION_TYPES
from ..core.metadata import CHARSETS
from ..core.transfer import TRANSFER_SYNTAXES
from ..net.destination import MAX_ASSOCIATIONS

#: Options that map one to one onto Metadata text fields.
METADATA_OPTIONS = {
    "--patient-name": ("patient_name", "patient's name, DICOM form FAMILY^GIVEN (=ideographic)"),
    "--patient-id": ("patient_id", "patient ID (default: the inverted date-time)"),
    "--birth-date": ("birth_date", "birth date, YYYYMMDD or YYYY-MM-DD"),
    "--sex": ("sex", "M, F or O"),
    "--accession": ("accession_number", "accession number"),
    "--referring": ("referring_physician", "referring physician's name"),
    "--study-description": ("study_description", "study description"),
    "--study-id": ("study_id", "study ID (default 1 for a new study)"),
    "--study-date": ("study_date", "date of an existing study, YYYYMMDD (default: from the PACS)"),
    "--study-time": ("study_time", "time of an existing study, HHMMSS (default: from the PACS)"),
    "--study-uid": ("study_instance_uid", "attach to this existing Study Instance UID"),
    "--series-description": ("series_description", "series description"),
    "--series-uid": ("series_instance_uid", "attach to this existing Series Instance UID"),
    "--modality": ("modality", "modality (default OT)"),
    "--body-part": ("body_part", "body part examined, e.g. CHEST"),
    "--laterality": ("laterality", "R or L, the side of a paired body part (HAND, KNEE…)"),
    "--institution": ("institution_name", "institution name"),
    "--station-name": ("station_name", "station name"),
    "--charset": (
        "charset",
        f"Specific Character Set (default ISO_IR 192): {', '.join(CHARSETS)}",
    ),
}


#: Options that map onto the other Metadata fields.
IMAGE_OPTIONS = (
    "series_number",
    "conversion_type",
    "window",
    "rescale",
    "pixel_spacing",
    "burned_in_annotation",
)


def number_pair(text: str) -> tuple[float, float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or NUMBER,NUMBER") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"{text!r}: give one number or two, comma-separated")
    return values[0], values[1]


def yes_no(text: str) -> bool:
    """An argparse type: ``yes`` or ``no`` (any case) as True or False."""
    answer = {"yes": True, "no": False}.get(text.strip().lower())
    if answer is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give yes or no")
    return answer


def count(what: str, most: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number of ``what``, 1 or more (at most ``most``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1 or (most is not None and value > most):
            wanted = f"1 to {most}" if most is not None else "1 or more"
            raise argparse.ArgumentTypeError(f"{text!r}: give {wanted} {what}")
        return value

    return parse


def date(text: str) -> str:
    return text.replace("-", "")


def date_range(text: str) -> str:
    """A date or range in DICOM form (``A``, ``A-B``, ``A-``, ``-B``), also written with
    ISO dates: ``2026-01-31`` or ``2026-01-01..2026-01-31``."""
    if ".." in text:
        start, _, end = text.partition("..")
        return f"{date(start)}-{date(end)}"
    return date(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else text


def area(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"{text!r}: give LEFT,TOP,WIDTH,HEIGHT in mm")
    return values


def add_metadata_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("patient, study and series")
    for option, (name, help_text) in METADATA_OPTIONS.items():
        kind = date if name in ("birth_date", "study_date") else str
        group.add_argument(option, dest=name, type=kind, help=help_text)
    group.add_argument("--series-number", type=int, help="series number")
    image = parser.add_argument_group("image")
    image.add_argument(
        "--conversion-type",
        choices=list(CONVERSION_TYPES),
        help="DF film, SD document, DV video, WSD workstation, DI digital interface "
        "(default: from the source; DF for 16-bit grey with a scan resolution, WSD "
        "otherwise; DF needs the resolution or --pixel-spacing)",
    )
    image.add_argument("--window", type=number_pair, metavar="C,W", help="window centre,width")
    image.add_argument(
        "--rescale", type=number_pair, metavar="SLOPE,INTERCEPT", help="rescale slope,intercept"
    )
    image.add_argument(
        "--pixel-spacing",
        type=number_pair,
        metavar="MM[,MM]",
        help="scanned pixel spacing in mm (row,column), when the file does not say",
    )
    image.add_argument(
        "--burned-in",
        dest="burned_in_annotation",
        type=yes_no,
        metavar="yes|no",
        help="Burned In Annotation: whether the pixels show text that identifies the "
        "patient (default: YES for every source but one known to carry none)",
    )
    image.add_argument(
        "--ts",
        metavar="SYNTAX",
        help="transfer syntax: "
        + ", ".join(ts.key for ts in TRANSFER_SYNTAXES)
        + " or a UID (default: a JPEG goes as JPEG, its bitstream unchanged; anything else "
        "explicit-le, or the lossless compressed syntax every destination prefers)",
    )


def add_sending_options(parser: argparse.ArgumentParser, required: bool = True) -> None:
    default = "default: config" if required else "none: only -o"
    parser.add_argument(
        "--to", action="append", metavar="DEST", help=f"destination (repeatable; {default})"
    )
    parser.add_argument(
        "--from-worklist", metavar="ACCESSION", help="take demographics from this worklist item"
    )
    parser.add_argument("--worklist", metavar="DEST", help="worklist server (default: config)")
    parser.add_argument(
        "--associations",
        type=count("associations", MAX_ASSOCIATIONS),
        metavar="N",
        help="open up to N associations at once to each destination "
        "(default: the destination's setting, 1)",
    )


def given_metadata(args: argparse.Namespace) -> dict[str, object]:
    """The Metadata fields the options set explicitly."""
    names = [name for name, _ in METADATA_OPTIONS.values()] + list(IMAGE_OPTIONS)
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def query_filters(args: argparse.Namespace):
    """The query filters the options give; those the command has no option for stay empty."""
    from ..jobs.query import Filters

    names = (field.name for field in dataclasses.fields(Filters))
    return Filters(**{name: getattr(args, name, None) or "" for name in names})


class Context:
    """The user's config, our network settings, and the outbox, from the global options."""

    def __init__(self, args: argparse.Namespace) -> None:
        from ..config import load_user_config, outbox_folder

        self.config = load_user_config(args.config)
        network = self.config.network
        if args.aet:
            network = dataclasses.replace(network, ae_title=args.aet)
        self.network = network
        self.outbox_folder = outbox_folder(self.config, args.outbox)

    def destination(self, text: str | None):
        from ..config import resolve_destination

        return resolve_destination(self.config, text)

    def worklist_server(self, text: str | None):
        from ..config import resolve_worklist

        return resolve_worklist(self.config, text)

    def open_outbox(self):
        from ..outbox import Outbox

        return Outbox(self.outbox_folder)
