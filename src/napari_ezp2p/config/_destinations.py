"""Using and editing the configured destinations, and the defaults of new objects."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ..core.errors import Ezp2pError
from ..core.metadata import Metadata
from ..core.transfer import transfer_syntax as lookup_transfer_syntax
from ..net.destination import DEFAULT_MAX_PDU, Destination, TlsSettings, parse_address
from ._settings import (
    NAME,
    NAME_RULE,
    Config,
    ConfigError,
    check_associations,
    check_max_pdu,
    unknown_destination,
)


def metadata_defaults(config: Config) -> Metadata:
    """What a new object starts with, as the user's config sets it."""
    return Metadata(
        charset=config.charset,
        institution_name=config.institution_name,
        institution_address=config.institution_address,
        station_name=config.station_name,
        series_description=config.series_description,
        series_number=config.series_number,
    )


def resolve_destination(config: Config, text: str | None = None) -> Destination:
    """The destination ``text`` names: a configured name, or ``AET@host:port``.
    Empty or None means the default destination."""
    return _resolve(config, text, config.default_destination, "destination")


def resolve_worklist(config: Config, text: str | None = None) -> Destination:
    """Like :func:`resolve_destination`, but empty means the default worklist server."""
    return _resolve(config, text, config.default_worklist, "worklist")


def _resolve(config: Config, text: str | None, default: str, what: str) -> Destination:
    text = (text or "").strip()
    if not text:
        if not default:
            raise ConfigError(
                f"no {what} given and no default {what} configured "
                f"(use `ezp2p destinations add NAME AET@host:port --default`)"
            )
        text = default
    if text in config.destinations:
        return config.destinations[text]
    if "@" in text:
        return replace(parse_address(text), max_pdu=config.network.max_pdu)
    raise ConfigError(
        f"unknown {what}: {unknown_destination(text, config.destinations)}; "
        "or give one as AET@host:port"
    )


def check_destination_name(name: str) -> str:
    """``name`` if it can name a destination (1-64 letters, digits, ``-_.``)."""
    if not NAME.match(name):
        raise ConfigError(f"destination name {name!r}: {NAME_RULE}")
    return name


def add_destination(
    config: Config,
    name: str,
    address: str,
    *,
    tls: TlsSettings | None = None,
    transfer_syntax: str = "",
    max_pdu: int = DEFAULT_MAX_PDU,
    associations: int = 1,
    default: bool = False,
    worklist: bool = False,
    replace_existing: bool = False,
) -> Config:
    """``config`` with destination ``name`` at ``address`` (``AET@host:port``) added.

    ``transfer_syntax`` is a key or UID of core.transfer (stored as its key);
    ``associations`` is how many a transfer to it may open at once. TLS file
    paths are made absolute and must exist. ``default``/``worklist`` make it the default
    destination/worklist server; the first destination becomes the default when none
    is set. A name already configured is an error unless ``replace_existing``.
    """
    check_destination_name(name)
    if name in config.destinations and not replace_existing:
        raise ConfigError(f"destination {name!r} already exists; remove it first")
    parsed = parse_address(address)
    ts = ""
    if transfer_syntax:
        try:
            ts = lookup_transfer_syntax(transfer_syntax).key
        except Ezp2pError as error:
            raise ConfigError(f"destination {name!r}: {error}") from None
    try:
        check_max_pdu(max_pdu)
        check_associations(associations)
    except ConfigError as error:
        raise ConfigError(f"destination {name!r}: {error}") from None
    if tls is not None:
        tls = _absolute_tls(name, tls)
    destination = Destination(
        name,
        parsed.ae_title,
        parsed.host,
        parsed.port,
        tls=tls,
        transfer_syntax=ts,
        max_pdu=max_pdu,
        associations=associations,
    )
    destinations = {**config.destinations, name: destination}
    changes: dict[str, Any] = {"destinations": destinations}
    if default or not config.default_destination:
        changes["default_destination"] = name
    if worklist:
        changes["default_worklist"] = name
    return replace(config, **changes)


def _absolute_tls(name: str, tls: TlsSettings) -> TlsSettings:
    paths = {}
    for key in ("ca_file", "cert_file", "key_file"):
        value = getattr(tls, key)
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise ConfigError(f"destination {name!r}: TLS {key} {value!r} is not a file")
            paths[key] = str(path.resolve())
    if tls.key_file and not tls.cert_file:
        raise ConfigError(f"destination {name!r}: a TLS key file needs a certificate file")
    return replace(tls, **paths)


def remove_destination(config: Config, name: str) -> Config:
    """``config`` without destination ``name``; defaults that named it are cleared."""
    if name not in config.destinations:
        raise ConfigError(f"cannot remove: {unknown_destination(name, config.destinations)}")
    destinations = {k: v for k, v in config.destinations.items() if k != name}
    return replace(
        config,
        destinations=destinations,
        default_destination=""
        if config.default_destination == name
        else config.default_destination,
        default_worklist="" if config.default_worklist == name else config.default_worklist,
    )


def format_destinations(config: Config) -> list[str]:
    """One line per destination for ``ezp2p destinations list`` (name, address,
    options, and which default it is)."""
    lines = []
    width = max((len(name) for name in config.destinations), default=0)
    for name, dest in config.destinations.items():
        notes = [f"max-pdu {dest.max_pdu}"]
        if dest.associations > 1:
            notes.append(f"{dest.associations} associations")
        if dest.transfer_syntax:
            notes.insert(0, dest.transfer_syntax)
        if dest.tls is not None:
            notes.append("tls" if dest.tls.verify else "tls (no verify)")
        if name == config.default_destination:
            notes.append("default")
        if name == config.default_worklist:
            notes.append("worklist")
        lines.append(f"{name:<{width}}  {dest.address}  {', '.join(notes)}")
    return lines
