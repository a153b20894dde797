"""``ezp2p convert``, ``echo``, ``find``, ``worklist``, ``destinations`` and ``serve``."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from ..core.errors import Ezp2pError
from .options import Context, given_metadata, query_filters
from .render import print_answers

MAX_PORT = 65535


def run_convert(args: argparse.Namespace) -> int:
    from ..config import load_user_config, metadata_defaults
    from ..jobs.convert import convert_inputs
    from ..jobs.inputs import SyntaxChoice
    from ..jobs.report import naming
    from .sending import joined

    syntax = SyntaxChoice.of(args.ts)
    meta = metadata_defaults(load_user_config(args.config))
    meta = joined(dataclasses.replace(meta, **given_metadata(args)))
    failures = 0
    for done in convert_inputs(args.inputs, args.output, meta, syntax):
        if done.error:
            failures += 1
            print(f"ezp2p: {naming(str(done.source), done.error)}", file=sys.stderr)
        else:
            print(f"{done.written}\t<- {done.source}\t{done.syntax}")
    if failures:
        print(f"ezp2p: {failures} of {len(args.inputs)} files failed", file=sys.stderr)
    return 1 if failures else 0


def run_echo(args: argparse.Namespace) -> int:
    from ..net.association import echo

    context = Context(args)
    destination = context.destination(args.destination)
    result = echo(destination, context.network)
    if result.ok:
        print(f"{destination.address}: success in {result.seconds * 1000:.1f} ms")
        return 0
    print(f"ezp2p: {result.error}", file=sys.stderr)
    return 1


def run_find(args: argparse.Namespace) -> int:
    from ..jobs.query import query_pacs

    context = Context(args)
    matches = query_pacs(
        query_filters(args), context.destination(args.to), context.network, args.level
    )
    print_answers(matches, args.level, args.json)
    return 0


def run_worklist(args: argparse.Namespace) -> int:
    from ..jobs.query import query_worklist

    context = Context(args)
    items = query_worklist(
        query_filters(args),
        context.worklist_server(args.to),
        context.network,
        context.config.worklist_fallback_charset,
    )
    print_answers(items, "worklist", args.json)
    return 0


def run_destinations(args: argparse.Namespace) -> int:
    from ..config import (
        add_destination,
        config_path,
        format_destinations,
        load_user_config,
        remove_destination,
        save_config,
    )
    from ..net.destination import TlsSettings

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


def run_serve(args: argparse.Namespace) -> int:

    from ..devpacs.entity import ServerLimits
    from ..devpacs.server import run_server
    from .logs import serve_logging

    if not 0 <= args.port <= MAX_PORT:  # before anything is created
        raise Ezp2pError(
            f"--port {args.port} is not a TCP port: use 1 to {MAX_PORT} (0: any free port)"
        )

    serve_logging(args.debug)
    limits = ServerLimits()
    if args.max_associations:
        limits = dataclasses.replace(limits, max_associations=args.max_associations)
    print(
        f"{args.ae_title} on {args.host}:{args.port}, storing into {args.storage} (Ctrl+C stops)",
        file=sys.stderr,
    )
    run_server(
        args.storage,
        args.port,
        host=args.host,
        ae_title=args.ae_title,
        worklist=args.worklist,
        limits=limits,
        any_called_aet=args.any_called_aet,
        move_destinations=tuple(args.move_destinations),
    )
    return 0
