"""``ezp2p send``, ``scan`` and ``queue``: through the outbox, with ``jobs.send``."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Iterable, Iterator

from pydicom import Dataset

from ..core.errors import Ezp2pError
from .options import Context, given_metadata
from .render import ProgressBars, print_report


def run_send(args: argparse.Namespace) -> int:
    from ..jobs.inputs import collect_inputs
    from ..jobs.send import SendItem

    inputs, hidden = collect_inputs(args.inputs)
    if hidden:
        shown = ", ".join(str(path) for path in hidden[:3]) + (", …" if len(hidden) > 3 else "")
        print(f"ezp2p: left out {len(hidden)} hidden files: {shown}", file=sys.stderr)
    if not inputs:
        raise Ezp2pError("no image, video, PDF or DICOM file found in the inputs")
    return queue_and_send(args, [SendItem.file(path) for path in inputs], replace=args.replace)


def queue_and_send(args: argparse.Namespace, items: Iterable, *, replace: bool = False) -> int:
    """Send ``items`` (``jobs.send.SendItem``) with the options' demographics (and the
    worklist's) to the destinations, through the outbox (``replace``: see
    ``jobs.send.queue``)."""
    from ..config import metadata_defaults
    from ..jobs.inputs import SyntaxChoice
    from ..jobs.send import send
    from ..jobs.study import metadata_from_match

    context = Context(args)
    destinations = [context.destination(text) for text in args.to or [None]]
    recover_outbox(context)
    if args.associations:
        destinations = [
            dataclasses.replace(d, associations=args.associations) for d in destinations
        ]
    meta = metadata_defaults(context.config)
    if args.from_worklist:
        meta = metadata_from_match(worklist_item(context, args), meta)
    meta = joined(dataclasses.replace(meta, **given_metadata(args)), destinations[0], context)

    def say_queued(report) -> None:
        print(
            f"queued {report.converted} converted and {report.passed_through} DICOM "
            f"objects for {', '.join(d.name for d in destinations)}",
            file=sys.stderr,
        )

    with ProgressBars() as bars:
        report = send(
            items,
            meta,
            destinations,
            network=context.network,
            outbox_folder=context.outbox_folder,
            syntax=SyntaxChoice.of(args.ts, destinations),
            replace=replace,
            progress=bars.show,
            object_progress=bars.show_object,
            on_queued=say_queued,
        )
    print_report(report)
    return 0 if report.ok else 1


def run_scan(args: argparse.Namespace) -> int:
    from ..capture.scanner import ScannerError, list_scanners
    from ..capture.scanning import scan, scan_pages
    from ..jobs.send import SendItem

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

    with ProgressBars() as bars:
        settings["progress"] = bars.fraction(args.device)
        images = saved_scans(until_stopped(), args) if args.output else until_stopped()
        items = (
            SendItem(f"{args.device} page {n}", image=image)
            for n, image in enumerate(images, start=1)
        )
        if args.to:
            status = queue_and_send(args, items)
        else:
            for _ in items:  # each page is scanned and saved as it is taken
                pass
            status = 0
    if stopped:
        print(f"ezp2p: error: {stopped[0]}", file=sys.stderr)
        return 1
    return status


def saved_scans(images: Iterator, args: argparse.Namespace) -> Iterator:
    """Write each scanned image to ``args.output`` as it comes (one series), then pass it on."""
    from datetime import datetime

    from ..config import load_user_config, metadata_defaults
    from ..core.convert import free_name, write_atomically
    from ..core.sc import complete_metadata
    from ..jobs.inputs import SyntaxChoice, object_for_image

    now = datetime.now()
    meta = metadata_defaults(load_user_config(args.config))
    meta = complete_metadata(dataclasses.replace(meta, **given_metadata(args)), now)
    syntax = SyntaxChoice.of(args.ts)
    args.output.mkdir(parents=True, exist_ok=True)
    for number, image in enumerate(images, start=1):
        ds = object_for_image(image, meta, syntax, number, now)
        print(write_atomically(ds, free_name(args.output, "scan")))
        yield image


#: The option that gives each value an existing study or series needs.
_OPTION_OF = {
    "StudyDate": "--study-date",
    "StudyTime": "--study-time",
    "StudyID": "--study-id",
    "SeriesNumber": "--series-number",
}


def joined(meta, destination=None, context: Context | None = None):
    """``meta`` with what ``destination`` knows of the study (series) it joins, asked
    with a C-FIND (no destination: nothing is asked); what is not known is said, with
    the options that give it."""
    from ..jobs.existing import unasked, with_existing

    if destination is None:
        existing = unasked(meta)
    else:
        existing = with_existing(meta, destination, context.network)
    if existing.missing:
        number = existing.meta.series_number
        kept = f" (Series Number {number})" if "SeriesNumber" in existing.missing else ""
        options = [_OPTION_OF[k] for k in existing.missing if k in _OPTION_OF]
        print(
            f"ezp2p: warning: {existing.reason}; not known, so written empty or left out: "
            f"{', '.join(existing.missing)}{kept}; give them with {', '.join(options)}",
            file=sys.stderr,
        )
    return existing.meta


def worklist_item(context: Context, args: argparse.Namespace) -> Dataset:
    from ..net.query import find_worklist

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


def run_queue(args: argparse.Namespace) -> int:
    from ..jobs.send import retry
    from ..outbox import STATES

    context = Context(args)
    recover_outbox(context)
    if args.action == "retry":
        with ProgressBars() as bars:
            report = retry(
                context.outbox_folder,
                context.network,
                entry_ids=args.ids or None,
                progress=bars.show,
                object_progress=bars.show_object,
                rejected=args.rejected,
            )
        print_report(report)
        if not args.rejected:
            say_rejected_left(context, args.ids)
        return 0 if report.ok else 1
    with context.open_outbox() as outbox:
        if args.action == "list":
            states = None if args.state in (None, "all") else [args.state]
            for entry in outbox.list(states):
                print(
                    f"{entry.id}\t{entry.state}\t{entry.destination_name}\t{entry.patient_name}"
                    f"\t{entry.series_description}\t{entry.attempts}\t{entry.last_message}"
                )
            return 0
        state = args.state or "sent"
        states = STATES if state == "all" else (state,)  # never a row being sent
        older = args.older_than * 86400 if args.older_than else None
        print(f"purged {outbox.purge(states, older)} entries")
        return 0


def say_rejected_left(context: Context, ids: list[int]) -> None:
    """Say how many rejected entries (of ``ids``, if any) a plain retry left alone."""
    from ..outbox import REJECTED

    with context.open_outbox() as outbox:
        left = [e for e in outbox.list([REJECTED]) if not ids or e.id in ids]
    if left:
        print(
            f"ezp2p: {len(left)} rejected entries (refused for good) not retried: "
            "`ezp2p queue retry --rejected` sends them again",
            file=sys.stderr,
        )


def recover_outbox(context: Context) -> None:
    """Clean up and take back what processes that ended (killed) left in the outbox,
    and say so."""
    with context.open_outbox() as outbox:
        cleaned = outbox.clean_orphans()
        taken = outbox.recover()
    if cleaned.files and cleaned.writers_gone:
        print(
            f"ezp2p: cleaned {cleaned.files} files left in the outbox by a process that "
            "was killed before it queued them: send those images again",
            file=sys.stderr,
        )
    elif cleaned.files:
        print(f"ezp2p: cleaned {cleaned.files} files no outbox entry refers to", file=sys.stderr)
    if taken:
        print(
            f"ezp2p: took back {len(taken)} entries that a process which ended left "
            "sending: they wait in the outbox again",
            file=sys.stderr,
        )
