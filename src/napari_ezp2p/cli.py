"""The ``ezp2p`` command: the same Python API as the napari widgets, headless."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .core.errors import Ezp2pError
from .core.image import CONVERSION_TYPES
from .core.metadata import CHARSETS, DEFAULT_CHARSET, Metadata
from .core.transfer import TRANSFER_SYNTAXES, transfer_syntax

#: Command-line options that map one to one onto Metadata text fields.
METADATA_OPTIONS = {
    "--patient-name": ("patient_name", "patient's name, DICOM form FAMILY^GIVEN (=ideographic)"),
    "--patient-id": ("patient_id", "patient ID (default: the inverted date-time)"),
    "--birth-date": ("birth_date", "birth date, YYYYMMDD or YYYY-MM-DD"),
    "--sex": ("sex", "M, F or O"),
    "--accession": ("accession_number", "accession number"),
    "--referring": ("referring_physician", "referring physician's name"),
    "--study-description": ("study_description", "study description"),
    "--study-id": ("study_id", "study ID (default 1)"),
    "--study-uid": ("study_instance_uid", "attach to this existing Study Instance UID"),
    "--series-description": ("series_description", "series description"),
    "--series-uid": ("series_instance_uid", "attach to this existing Series Instance UID"),
    "--modality": ("modality", "modality (default OT)"),
    "--body-part": ("body_part", "body part examined, e.g. CHEST"),
    "--institution": ("institution_name", "institution name"),
    "--station-name": ("station_name", "station name"),
}


def _number_pair(text: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or NUMBER,NUMBER") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"{text!r}: give one number or two, comma-separated")
    return values[0], values[1]


def _date(text: str) -> str:
    return text.replace("-", "")


def _add_metadata_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("patient, study and series")
    for option, (name, help_text) in METADATA_OPTIONS.items():
        kind = _date if name == "birth_date" else str
        group.add_argument(option, dest=name, type=kind, default=None, help=help_text)
    group.add_argument("--series-number", type=int, default=None, help="series number")
    group.add_argument(
        "--charset",
        default=DEFAULT_CHARSET,
        help=f"Specific Character Set (default {DEFAULT_CHARSET}); one of: {', '.join(CHARSETS)}",
    )
    image = parser.add_argument_group("image")
    image.add_argument(
        "--conversion-type",
        choices=list(CONVERSION_TYPES),
        help="DF film, SD document, DV video, WSD workstation, DI digital interface "
        "(default: from the source; DF for 16-bit grey, WSD otherwise)",
    )
    image.add_argument(
        "--window", type=_number_pair, metavar="C,W", help="window centre and width"
    )
    image.add_argument(
        "--rescale", type=_number_pair, metavar="SLOPE,INTERCEPT", help="rescale slope, intercept"
    )
    image.add_argument(
        "--pixel-spacing",
        type=_number_pair,
        metavar="MM[,MM]",
        help="scanned pixel spacing in mm (row,column), when the file does not say",
    )
    image.add_argument(
        "--ts",
        default="explicit-le",
        metavar="SYNTAX",
        help="transfer syntax: " + ", ".join(ts.key for ts in TRANSFER_SYNTAXES) + " or a UID",
    )


def metadata_from(args: argparse.Namespace) -> Metadata:
    """The Metadata the options describe (unset options keep the defaults)."""
    values = {name: getattr(args, name) for name, _ in METADATA_OPTIONS.values()}
    values |= {
        "series_number": args.series_number,
        "charset": args.charset,
        "conversion_type": args.conversion_type,
        "window": args.window,
        "rescale": args.rescale,
        "pixel_spacing": args.pixel_spacing,
    }
    return Metadata(**{name: value for name, value in values.items() if value is not None})


def _convert(args: argparse.Namespace) -> int:
    from .core.convert import convert_files

    ts = transfer_syntax(args.ts)
    failures = 0
    for outcome in convert_files(args.inputs, args.output, metadata_from(args), ts):
        if outcome.error:
            failures += 1
            print(f"ezp2p: {outcome.source}: {outcome.error}", file=sys.stderr)
        else:
            print(f"{outcome.output}\t<- {outcome.source}\t{ts.label}")
    if failures:
        print(f"ezp2p: {failures} of {len(args.inputs)} files failed", file=sys.stderr)
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ezp2p", description="Images to DICOM Secondary Capture, sent to a PACS."
    )
    parser.add_argument("--version", action="version", version=f"ezp2p {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    convert = commands.add_parser(
        "convert",
        help="convert images to DICOM files",
        description="Convert images (BMP, JPEG, PNG, TIFF) to Secondary Capture files: "
        "one study, one series, one file per input.",
    )
    convert.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    convert.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
    _add_metadata_options(convert)
    convert.set_defaults(run=_convert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; the exit status is 0 only when everything succeeded."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except Ezp2pError as error:
        print(f"ezp2p: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
