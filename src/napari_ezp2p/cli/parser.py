"""The ``ezp2p`` argument parser."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .. import __version__
from ..net.destination import MAX_ASSOCIATIONS, DestinationError, parse_address
from ..outbox import STATES
from .commands import run_convert, run_destinations, run_echo, run_find, run_serve, run_worklist
from .options import add_metadata_options, add_sending_options, area, count, date_range
from .sending import run_queue, run_scan, run_send


def destination_address(text: str):
    """An ``AET@host:port`` option value, or argparse's one-line error."""
    try:
        return parse_address(text)
    except DestinationError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


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
    add_metadata_options(convert)
    convert.set_defaults(run=run_convert)

    echo = commands.add_parser("echo", help="verify a destination with C-ECHO")
    echo.add_argument("destination", nargs="?", metavar="DEST", help="name or AET@host:port")
    echo.set_defaults(run=run_echo)

    send = commands.add_parser(
        "send",
        help="convert and send to one or more PACS",
        description="Convert images, videos and PDFs (and take DICOM files as they are) "
        "into the outbox, then send them. Failed instances stay in the outbox for "
        "`ezp2p queue retry`; those a destination refused for good are rejected, "
        "for `ezp2p queue retry --rejected`.",
    )
    send.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="files or folders")
    send.add_argument(
        "--replace",
        action="store_true",
        help="a DICOM file whose SOP Instance UID the outbox holds with other bytes "
        "replaces that object and is sent again to its destinations (without this, it "
        "is refused)",
    )
    add_sending_options(send)
    add_metadata_options(send)
    send.set_defaults(run=run_send)

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
    scan.add_argument("--area", type=area, metavar="L,T,W,H", help="scan area in mm")
    scan.add_argument("--document", action="store_true", help="a document (SD), not a film")
    scan.add_argument(
        "--feeder",
        action="store_true",
        help="scan every page in the document feeder, one image each (one series)",
    )
    scan.add_argument(
        "--pages", type=count("pages"), metavar="N", help="at most N pages (implies --feeder)"
    )
    add_sending_options(scan, required=False)
    add_metadata_options(scan)
    scan.set_defaults(run=run_scan)

    find = commands.add_parser("find", help="query a PACS (Study Root C-FIND)")
    find.add_argument("--to", metavar="DEST", help="PACS (default: config)")
    find.add_argument("--level", choices=("study", "series"), default="study")
    for option in ("--patient-name", "--patient-id", "--accession", "--modality"):
        find.add_argument(option)
    find.add_argument(
        "--study-date", dest="date", type=date_range, metavar="RANGE", help="date or A-B"
    )
    find.add_argument("--study-uid")
    find.add_argument("--series-uid")
    find.add_argument("--study-description")
    find.add_argument("--json", action="store_true", help="print a JSON array")
    find.set_defaults(run=run_find)

    worklist = commands.add_parser("worklist", help="query a Modality Worklist")
    worklist.add_argument("--to", metavar="DEST", help="worklist server (default: config)")
    for option in ("--modality", "--station-aet", "--patient-name", "--patient-id"):
        worklist.add_argument(option)
    worklist.add_argument("--accession")
    worklist.add_argument("--date", type=date_range, metavar="RANGE", help="date or A-B")
    worklist.add_argument("--json", action="store_true", help="print a JSON array")
    worklist.set_defaults(run=run_worklist)

    queue = commands.add_parser("queue", help="look at, retry or purge the outbox")
    queue.add_argument("action", choices=("list", "retry", "purge"))
    queue.add_argument("ids", nargs="*", type=int, help="entries to retry (default: all)")
    queue.add_argument("--state", choices=(*STATES, "all"))
    queue.add_argument(
        "--rejected",
        action="store_true",
        help="retry the rejected entries too (refused for good by their destination)",
    )
    queue.add_argument("--older-than", type=float, metavar="DAYS", help="purge only older")
    queue.set_defaults(run=run_queue)

    destinations = commands.add_parser("destinations", help="configure remote AEs")
    actions = destinations.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add or replace a destination")
    add.add_argument("name")
    add.add_argument("address", metavar="AET@host:port")
    add.add_argument("--default", action="store_true", help="the default for sending")
    add.add_argument("--worklist", action="store_true", help="the default worklist server")
    add.add_argument(
        "--ts",
        help="preferred transfer syntax: objects are transcoded to it when that loses "
        "nothing (a lossy one is used only for objects already encoded in it)",
    )
    add.add_argument("--max-pdu", type=int, default=16384)
    add.add_argument(
        "--associations",
        type=count("associations", MAX_ASSOCIATIONS),
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
    destinations.set_defaults(run=run_destinations)

    serve = commands.add_parser("serve", help="run a small local PACS for trying things out")
    serve.add_argument("--port", type=int, default=11112)
    serve.add_argument("--storage", type=Path, required=True, metavar="DIR")
    serve.add_argument("--worklist", type=Path, metavar="FILE", help="worklist items (JSON)")
    serve.add_argument("--ae-title", default="EZP2P-PACS")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument(
        "--any-called-aet",
        action="store_true",
        help="accept associations addressed to any AE title, not only --ae-title",
    )
    serve.add_argument(
        "--max-associations",
        type=count("associations"),
        metavar="N",
        help="associations at once, those still negotiating included (default 32)",
    )
    serve.add_argument(
        "--move-destination",
        dest="move_destinations",
        type=destination_address,
        action="append",
        default=[],
        metavar="AET@host:port",
        help="where C-MOVE may send, by AE title (repeat for several)",
    )
    serve.add_argument(
        "--debug", action="store_true", help="log query keys (cut short) and DICOM messages"
    )
    serve.set_defaults(run=run_serve)
    return parser
