"""The ``ezp2p`` command: the same Python API as the napari widgets, headless.

Exit status: 0 when everything succeeded, 1 on any failure (with a message on
stderr), 2 for wrong usage.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from pydicom import Dataset

from . import __version__
from .core.errors import Ezp2pError
from .core.image import CONVERSION_TYPES
from .core.metadata import CHARSETS
from .core.transfer import TRANSFER_SYNTAXES
from .net.destination import MAX_ASSOCIATIONS

#: Options that map one to one onto Metadata text fields.
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
    "--charset": (
        "charset",
        f"Specific Character Set (default ISO_IR 192): {', '.join(CHARSETS)}",
    ),
}
#: Options that map onto the other Metadata fields.
IMAGE_OPTIONS = ("series_number", "conversion_type", "window", "rescale", "pixel_spacing")
#: What `find` and `worklist` show as columns (the JSON output has every key).
STUDY_COLUMNS = ("PatientName", "PatientID", "StudyDate", "AccessionNumber", "StudyDescription")
SERIES_COLUMNS = ("SeriesNumber", "Modality", "SeriesDescription", "SeriesInstanceUID")
WORKLIST_COLUMNS = ("PatientName", "PatientID", "AccessionNumber", "RequestedProcedureDescription")


def _number_pair(text: str) -> tuple[float, float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or NUMBER,NUMBER") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"{text!r}: give one number or two, comma-separated")
    return values[0], values[1]


def _count(what: str, most: int | None = None) -> Callable[[str], int]:
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


def _date(text: str) -> str:
    return text.replace("-", "")


def _date_range(text: str) -> str:
    """A date or range in DICOM form (``A``, ``A-B``, ``A-``, ``-B``), also written with
    ISO dates: ``2026-01-31`` or ``2026-01-01..2026-01-31``."""
    if ".." in text:
        start, _, end = text.partition("..")
        return f"{_date(start)}-{_date(end)}"
    return _date(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else text


# ------------------------------------------------------------------------- options


def _add_metadata_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("patient, study and series")
    for option, (name, help_text) in METADATA_OPTIONS.items():
        kind = _date if name == "birth_date" else str
        group.add_argument(option, dest=name, type=kind, help=help_text)
    group.add_argument("--series-number", type=int, help="series number")
    image = parser.add_argument_group("image")
    image.add_argument(
        "--conversion-type",
        choices=list(CONVERSION_TYPES),
        help="DF film, SD document, DV video, WSD workstation, DI digital interface "
        "(default: from the source; DF for 16-bit grey, WSD otherwise)",
    )
    image.add_argument("--window", type=_number_pair, metavar="C,W", help="window centre,width")
    image.add_argument(
        "--rescale", type=_number_pair, metavar="SLOPE,INTERCEPT", help="rescale slope,intercept"
    )
    image.add_argument(
        "--pixel-spacing",
        type=_number_pair,
        metavar="MM[,MM]",
        help="scanned pixel spacing in mm (row,column), when the file does not say",
    )
    image.add_argument(
        "--ts",
        metavar="SYNTAX",
        help="transfer syntax: "
        + ", ".join(ts.key for ts in TRANSFER_SYNTAXES)
        + " or a UID (default: the destination's preferred one, else explicit-le)",
    )


def _given_metadata(args: argparse.Namespace) -> dict[str, object]:
    """The Metadata fields the options set explicitly."""
    names = [name for name, _ in METADATA_OPTIONS.values()] + list(IMAGE_OPTIONS)
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


class _Context:
    """The user's config, our network settings, and the outbox, from the global options."""

    def __init__(self, args: argparse.Namespace) -> None:
        from .config import load_user_config, outbox_folder

        self.config = load_user_config(args.config)
        network = self.config.network
        if args.aet:
            network = dataclasses.replace(network, ae_title=args.aet)
        self.network = network
        self.outbox_folder = outbox_folder(self.config, args.outbox)

    def destination(self, text: str | None):
        from .config import resolve_destination

        return resolve_destination(self.config, text)

    def worklist_server(self, text: str | None):
        from .config import resolve_worklist

        return resolve_worklist(self.config, text)

    def open_outbox(self):
        from .outbox import Outbox

        return Outbox(self.outbox_folder)


# ------------------------------------------------------------------------- commands


def _convert(args: argparse.Namespace) -> int:
    from .config import load_user_config, metadata_defaults
    from .jobs.convert import convert_inputs
    from .jobs.inputs import SyntaxChoice

    syntax = SyntaxChoice.of(args.ts)
    meta = metadata_defaults(load_user_config(args.config))
    meta = dataclasses.replace(meta, **_given_metadata(args))
    failures = 0
    for done in convert_inputs(args.inputs, args.output, meta, syntax):
        if done.error:
            failures += 1
            print(f"ezp2p: {done.source}: {done.error}", file=sys.stderr)
        else:
            print(f"{done.written}\t<- {done.source}\t{done.syntax}")
    if failures:
        print(f"ezp2p: {failures} of {len(args.inputs)} files failed", file=sys.stderr)
    return 1 if failures else 0


def _echo(args: argparse.Namespace) -> int:
    from .net.association import echo

    context = _Context(args)
    destination = context.destination(args.destination)
    result = echo(destination, context.network)
    if result.ok:
        print(f"{destination.address}: success in {result.seconds * 1000:.1f} ms")
        return 0
    print(f"ezp2p: {result.error}", file=sys.stderr)
    return 1


def _send(args: argparse.Namespace) -> int:
    from .jobs.inputs import collect_inputs
    from .jobs.send import SendItem

    inputs = collect_inputs(args.inputs)
    if not inputs:
        raise Ezp2pError("no image, video, PDF or DICOM file found in the inputs")
    return _queue_and_send(args, [SendItem.file(path) for path in inputs])


def _queue_and_send(args: argparse.Namespace, items: Iterable) -> int:
    """Send ``items`` (``jobs.send.SendItem``) with the options' demographics (and the
    worklist's) to the destinations, through the outbox."""
    from .config import metadata_defaults
    from .jobs.inputs import SyntaxChoice
    from .jobs.send import send
    from .jobs.study import metadata_from_match

    context = _Context(args)
    destinations = [context.destination(text) for text in args.to or [None]]
    if args.associations:
        destinations = [
            dataclasses.replace(d, associations=args.associations) for d in destinations
        ]
    meta = metadata_defaults(context.config)
    if args.from_worklist:
        meta = metadata_from_match(_worklist_item(context, args), meta)
    meta = dataclasses.replace(meta, **_given_metadata(args))

    def say_queued(report) -> None:
        refused = [row for row in report.rows if row.entry_id is None]
        for label, message in dict.fromkeys((row.label, row.message) for row in refused):
            print(f"ezp2p: {label}: {message}", file=sys.stderr)
        print(
            f"queued {report.converted} converted and {report.passed_through} DICOM "
            f"objects for {', '.join(d.name for d in destinations)}",
            file=sys.stderr,
        )

    with _ProgressBars() as bars:
        report = send(
            items,
            meta,
            destinations,
            network=context.network,
            outbox_folder=context.outbox_folder,
            syntax=SyntaxChoice.of(args.ts, destinations),
            progress=bars.show,
            on_queued=say_queued,
        )
    _print_report(report)
    return 0 if report.ok else 1


def _scan(args: argparse.Namespace) -> int:
    from .capture.scanner import ScannerError, list_scanners
    from .capture.scanning import scan, scan_pages
    from .jobs.send import SendItem

    if not args.device:
        for scanner in list_scanners():
            print(f"{scanner.name}\t{scanner.label}")
        return 0
    if not (args.output or args.to):
        raise Ezp2pError("say where the scan goes: -o DIR and/or --to DEST")
    settings = {
        "resolution_dpi": args.resolution,
        "mode": args.mode,
        "depth": args.depth,
        "area_mm": args.area,
        "conversion_type": args.conversion_type or ("SD" if args.document else "DF"),
    }
    if not (args.feeder or args.pages):
        pages: Iterator = iter([scan(args.device, **settings)])
    else:
        pages = scan_pages(args.device, max_pages=args.pages, **settings)
    stopped: list[ScannerError] = []  # a jam or cancel: the pages before it still go

    def until_stopped() -> Iterator:
        try:
            yield from pages
        except ScannerError as error:
            stopped.append(error)

    with _ProgressBars() as bars:
        settings["progress"] = bars.fraction(args.device)
        images = _saved_scans(until_stopped(), args) if args.output else until_stopped()
        items = (
            SendItem(f"{args.device} page {n}", image=image)
            for n, image in enumerate(images, start=1)
        )
        if args.to:
            status = _queue_and_send(args, items)
        else:
            for _ in items:  # each page is scanned and saved as it is taken
                pass
            status = 0
    if stopped:
        print(f"ezp2p: error: {stopped[0]}", file=sys.stderr)
        return 1
    return status


def _saved_scans(images: Iterator, args: argparse.Namespace) -> Iterator:
    """Write each scanned image to ``args.output`` as it comes (one series), then pass it on."""
    from datetime import datetime

    from .config import load_user_config, metadata_defaults
    from .core.convert import free_name, write_atomically
    from .core.sc import complete_metadata
    from .jobs.inputs import SyntaxChoice, object_for_image

    now = datetime.now()
    meta = metadata_defaults(load_user_config(args.config))
    meta = complete_metadata(dataclasses.replace(meta, **_given_metadata(args)), now)
    syntax = SyntaxChoice.of(args.ts)
    args.output.mkdir(parents=True, exist_ok=True)
    for number, image in enumerate(images, start=1):
        ds = object_for_image(image, meta, syntax, number, now)
        print(write_atomically(ds, free_name(args.output, "scan")))
        yield image


def _worklist_item(context: _Context, args: argparse.Namespace) -> Dataset:
    from .net.query import find_worklist

    server = context.worklist_server(args.worklist)
    items = find_worklist(
        {"AccessionNumber": args.from_worklist},
        server,
        context.network,
        context.config.worklist_fallback_charset,
    )
    if not items:
        raise Ezp2pError(f"{server.address} has no worklist item {args.from_worklist!r}")
    if len(items) > 1:
        print(f"ezp2p: {len(items)} worklist items match; using the first", file=sys.stderr)
    return items[0]


class _ProgressBars:
    """One progress bar per destination (or scanner) on stderr, when it is a terminal:
    parallel destinations each keep their own line."""

    def __init__(self) -> None:
        self._bars: dict[str, object] = {}
        self._lock = threading.Lock()
        self._shown = sys.stderr.isatty()

    def show(self, name: str, done: int, total: int) -> None:
        """``done`` of ``total`` for ``name`` (called from worker threads)."""
        if not self._shown:
            return
        with self._lock:
            bar = self._bars.get(name)
            if bar is None:
                from tqdm import tqdm

                bar = tqdm(
                    total=total, desc=name, position=len(self._bars), file=sys.stderr, leave=True
                )
                self._bars[name] = bar
            if bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

    def fraction(self, name: str) -> Callable[[float], None]:
        """A progress callback taking the fraction done of ``name``'s work."""
        return lambda fraction: self.show(name, round(fraction * 100), 100)

    def __enter__(self) -> _ProgressBars:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for bar in self._bars.values():
            bar.close()


def _print_report(report) -> None:
    """The report as the command says it: a line per destination on stdout, then why
    anything was not sent on stderr."""
    for line in report.lines():
        print(line)
    for reason in report.reasons():
        print(f"ezp2p: {reason}", file=sys.stderr)


def _find(args: argparse.Namespace) -> int:
    from .jobs.query import Filters, query_pacs

    context = _Context(args)
    filters = Filters(
        patient_name=args.patient_name or "",
        patient_id=args.patient_id or "",
        accession=args.accession or "",
        date=args.study_date or "",
        modality=args.modality or "",
        study_description=args.study_description or "",
        study_uid=args.study_uid or "",
        series_uid=args.series_uid or "",
    )
    matches = query_pacs(filters, context.destination(args.to), context.network, args.level)
    columns = STUDY_COLUMNS if args.level == "study" else SERIES_COLUMNS
    _print_matches(matches, columns + ("StudyInstanceUID",), args.json)
    return 0


def _worklist(args: argparse.Namespace) -> int:
    from .jobs.query import Filters, query_worklist

    context = _Context(args)
    filters = Filters(
        patient_name=args.patient_name or "",
        patient_id=args.patient_id or "",
        accession=args.accession or "",
        date=args.date or "",
        modality=args.modality or "",
        station_aet=args.station_aet or "",
    )
    items = query_worklist(
        filters,
        context.worklist_server(args.to),
        context.network,
        context.config.worklist_fallback_charset,
    )
    _print_matches(items, WORKLIST_COLUMNS + ("StudyInstanceUID",), args.json)
    return 0


def dataset_as_dict(ds: Dataset) -> dict[str, object]:
    """A dataset as JSON-ready values keyed by DICOM keyword: person names as their
    full string (``=`` groups included), several values as a list, sequences as lists."""
    out: dict[str, object] = {}
    for elem in ds:
        key = elem.keyword or str(elem.tag)
        if key == "SpecificCharacterSet":
            continue
        if elem.VR == "SQ":
            out[key] = [dataset_as_dict(item) for item in elem.value]
        elif elem.VM > 1:
            out[key] = [str(value) for value in elem.value]
        else:
            out[key] = "" if elem.value is None else str(elem.value)
    return out


def _print_matches(matches: list[Dataset], columns: Sequence[str], as_json: bool) -> None:
    if as_json:
        json.dump([dataset_as_dict(ds) for ds in matches], sys.stdout, ensure_ascii=False)
        print()
        return
    for ds in matches:
        print("\t".join(str(ds.get(keyword, "")) for keyword in columns))
    print(f"{len(matches)} match{'es' if len(matches) != 1 else ''}", file=sys.stderr)


def _queue(args: argparse.Namespace) -> int:
    from .jobs.send import retry
    from .outbox import FAILED, QUEUED, SENT

    context = _Context(args)
    if args.action == "retry":
        with _ProgressBars() as bars:
            report = retry(
                context.outbox_folder,
                context.network,
                entry_ids=args.ids or None,
                progress=bars.show,
            )
        _print_report(report)
        return 0 if report.ok else 1
    with context.open_outbox() as outbox:
        if args.action == "list":
            states = [args.state] if args.state else None
            for entry in outbox.list(states):
                print(
                    f"{entry.id}\t{entry.state}\t{entry.destination_name}\t{entry.patient_name}"
                    f"\t{entry.series_description}\t{entry.attempts}\t{entry.last_message}"
                )
            return 0
        states = {"sent": (SENT,), "failed": (FAILED,), "all": (SENT, FAILED, QUEUED)}
        older = args.older_than * 86400 if args.older_than else None
        print(f"purged {outbox.purge(states[args.state or 'sent'], older)} entries")
        return 0


def _destinations(args: argparse.Namespace) -> int:
    from .config import (
        add_destination,
        config_path,
        format_destinations,
        load_user_config,
        remove_destination,
        save_config,
    )
    from .net.destination import TlsSettings

    config = load_user_config(args.config)
    if args.action == "list":
        for line in format_destinations(config):
            print(line)
        return 0
    if args.action == "remove":
        config = remove_destination(config, args.name)
    else:
        tls = None
        if args.tls or args.tls_ca or args.tls_cert:
            tls = TlsSettings(
                args.tls_ca or "", args.tls_cert or "", args.tls_key or "", args.verify
            )
        config = add_destination(
            config,
            args.name,
            args.address,
            tls=tls,
            transfer_syntax=args.ts or "",
            max_pdu=args.max_pdu,
            associations=args.associations,
            default=args.default,
            worklist=args.worklist,
            replace_existing=args.replace,
        )
    print(f"saved {save_config(config, config_path(args.config))}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import logging

    from .devpacs.server import run_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    print(
        f"{args.ae_title} on {args.host}:{args.port}, storing into {args.storage} (Ctrl+C stops)",
        file=sys.stderr,
    )
    run_server(
        args.storage, args.port, host=args.host, ae_title=args.ae_title, worklist=args.worklist
    )
    return 0


# ------------------------------------------------------------------------- parser


def _area(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"{text!r}: give LEFT,TOP,WIDTH,HEIGHT in mm")
    return values


def _add_sending_options(parser: argparse.ArgumentParser, required: bool = True) -> None:
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
        type=_count("associations", MAX_ASSOCIATIONS),
        metavar="N",
        help="open up to N associations at once to each destination "
        "(default: the destination's setting, 1)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ezp2p", description="Images to DICOM Secondary Capture, sent to a PACS."
    )
    parser.add_argument("--version", action="version", version=f"ezp2p {__version__}")
    parser.add_argument(
        "--aet",
        default=os.environ.get("EZP2P_AET") or None,
        help="our AE title (default from the config, else EZP2P; env EZP2P_AET)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=os.environ.get("EZP2P_CONFIG") or None,
        help="config file (env EZP2P_CONFIG; default in the user config folder)",
    )
    parser.add_argument(
        "--outbox",
        type=Path,
        help="outbox folder (env EZP2P_OUTBOX; default in the user data folder)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    convert = commands.add_parser(
        "convert",
        help="convert images to DICOM files",
        description="Convert images (BMP, JPEG, PNG, TIFF) and video files to Secondary "
        "Capture files, PDFs to Encapsulated PDF: one study, one series, one file per input.",
    )
    convert.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    convert.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
    _add_metadata_options(convert)
    convert.set_defaults(run=_convert)

    echo = commands.add_parser("echo", help="verify a destination with C-ECHO")
    echo.add_argument("destination", nargs="?", metavar="DEST", help="name or AET@host:port")
    echo.set_defaults(run=_echo)

    send = commands.add_parser(
        "send",
        help="convert and send to one or more PACS",
        description="Convert images, videos and PDFs (and take DICOM files as they are) "
        "into the outbox, then send them. Failed instances stay in the outbox for "
        "`ezp2p queue retry`.",
    )
    send.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="files or folders")
    _add_sending_options(send)
    _add_metadata_options(send)
    send.set_defaults(run=_send)

    scan = commands.add_parser(
        "scan",
        help="scan a film or document from a SANE scanner",
        description="Without DEVICE, list the scanners. With it, scan once (or every page "
        "in the document feeder) and write the objects to -o DIR and/or send them --to DEST.",
    )
    scan.add_argument("device", nargs="?", metavar="DEVICE", help="SANE device, e.g. test:0")
    scan.add_argument("-o", "--output", type=Path, metavar="DIR")
    scan.add_argument("--resolution", type=float, default=150, metavar="DPI")
    scan.add_argument("--mode", choices=("gray", "color"), default="gray")
    scan.add_argument("--depth", type=int, choices=(8, 16), default=16)
    scan.add_argument("--area", type=_area, metavar="L,T,W,H", help="scan area in mm")
    scan.add_argument("--document", action="store_true", help="a document (SD), not a film")
    scan.add_argument(
        "--feeder",
        action="store_true",
        help="scan every page in the document feeder, one image each (one series)",
    )
    scan.add_argument(
        "--pages", type=_count("pages"), metavar="N", help="at most N pages (implies --feeder)"
    )
    _add_sending_options(scan, required=False)
    _add_metadata_options(scan)
    scan.set_defaults(run=_scan)

    find = commands.add_parser("find", help="query a PACS (Study Root C-FIND)")
    find.add_argument("--to", metavar="DEST", help="PACS (default: config)")
    find.add_argument("--level", choices=("study", "series"), default="study")
    for option in ("--patient-name", "--patient-id", "--accession", "--modality"):
        find.add_argument(option)
    find.add_argument("--study-date", type=_date_range, metavar="RANGE", help="date or A-B")
    find.add_argument("--study-uid")
    find.add_argument("--series-uid")
    find.add_argument("--study-description")
    find.add_argument("--json", action="store_true", help="print a JSON array")
    find.set_defaults(run=_find)

    worklist = commands.add_parser("worklist", help="query a Modality Worklist")
    worklist.add_argument("--to", metavar="DEST", help="worklist server (default: config)")
    for option in ("--modality", "--station-aet", "--patient-name", "--patient-id"):
        worklist.add_argument(option)
    worklist.add_argument("--accession")
    worklist.add_argument("--date", type=_date_range, metavar="RANGE", help="date or A-B")
    worklist.add_argument("--json", action="store_true", help="print a JSON array")
    worklist.set_defaults(run=_worklist)

    queue = commands.add_parser("queue", help="look at, retry or purge the outbox")
    queue.add_argument("action", choices=("list", "retry", "purge"))
    queue.add_argument("ids", nargs="*", type=int, help="entries to retry (default: all)")
    queue.add_argument("--state", choices=("queued", "sending", "sent", "failed", "all"))
    queue.add_argument("--older-than", type=float, metavar="DAYS", help="purge only older")
    queue.set_defaults(run=_queue)

    destinations = commands.add_parser("destinations", help="configure remote AEs")
    actions = destinations.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add or replace a destination")
    add.add_argument("name")
    add.add_argument("address", metavar="AET@host:port")
    add.add_argument("--default", action="store_true", help="the default for sending")
    add.add_argument("--worklist", action="store_true", help="the default worklist server")
    add.add_argument("--ts", help="preferred transfer syntax")
    add.add_argument("--max-pdu", type=int, default=16384)
    add.add_argument(
        "--associations",
        type=_count("associations", MAX_ASSOCIATIONS),
        default=1,
        metavar="N",
        help="associations a transfer may open at once, for a PACS that stores in parallel",
    )
    add.add_argument("--tls", action="store_true", help="use TLS (system CA bundle)")
    add.add_argument("--tls-ca", metavar="FILE", help="CA bundle that signs the peer")
    add.add_argument("--tls-cert", metavar="FILE", help="our client certificate")
    add.add_argument("--tls-key", metavar="FILE", help="our client key")
    add.add_argument("--no-verify", dest="verify", action="store_false")
    add.add_argument("--replace", action="store_true", help="replace one of the same name")
    actions.add_parser("list", help="list destinations")
    remove = actions.add_parser("remove", help="remove a destination")
    remove.add_argument("name")
    destinations.set_defaults(run=_destinations)

    serve = commands.add_parser("serve", help="run a small local PACS for trying things out")
    serve.add_argument("--port", type=int, default=11112)
    serve.add_argument("--storage", type=Path, required=True, metavar="DIR")
    serve.add_argument("--worklist", type=Path, metavar="FILE", help="worklist items (JSON)")
    serve.add_argument("--ae-title", default="EZP2P-PACS")
    serve.add_argument("--host", default="127.0.0.1")
    serve.set_defaults(run=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; the exit status is 0 only when everything succeeded."""
    args = build_parser().parse_args(argv)
    # The command says what happened itself; the library's log lines would repeat it.
    logging.getLogger("napari_ezp2p").addHandler(logging.NullHandler())
    try:
        return args.run(args)
    except Ezp2pError as error:
        print(f"ezp2p: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
