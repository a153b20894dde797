"""The user's settings: our AE, the remote AEs, and the defaults of new objects.

Stored as TOML in the user's config folder (``config_path()``), or in a file given
with ``--config FILE`` or the ``EZP2P_CONFIG`` environment variable::

    [network]
    ae_title = "EZP2P"          # our AE title (EZP2P_AET overrides it)
    max_pdu = 16384
    acse_timeout = 30.0
    dimse_timeout = 60.0
    network_timeout = 60.0

    [defaults]
    destination = "pacs"        # a name under [destinations]
    worklist = "ris"
    charset = "ISO_IR 192"
    worklist_fallback_charset = "ISO_IR 100"
    institution_name = "General Hospital"
    institution_address = ""
    station_name = "EZP2P"
    series_description = "Secondary capture"
    series_number = 1

    [outbox]
    folder = "/var/lib/ezp2p/outbox"   # empty: the default place

    [destinations.pacs]
    ae_title = "ORTHANC"
    host = "127.0.0.1"
    port = 4242
    transfer_syntax = "jpeg-ls"  # empty: send as encoded
    max_pdu = 16384
    associations = 4             # at once, for a PACS that stores in parallel (default 1)

    [destinations.pacs.tls]
    ca_file = "/etc/ssl/pacs-ca.pem"
    cert_file = ""
    key_file = ""
    verify = true

Every table and key is optional; an unknown one is an error (so a typo is caught),
and every error names the file, the line and the key. Pure: no Qt, no napari.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import tomli_w
from platformdirs import user_config_dir

from .core.errors import Ezp2pError
from .core.files import atomic_file
from .core.metadata import DEFAULT_CHARSET, Metadata, charset_terms, check_value
from .core.transfer import transfer_syntax as lookup_transfer_syntax
from .net.destination import (
    DEFAULT_MAX_PDU,
    MAX_ASSOCIATIONS,
    Destination,
    NetworkSettings,
    TlsSettings,
    check_ae_title,
    parse_address,
)

APP_NAME = "napari-ezp2p"
CONFIG_FILE_NAME = "config.toml"
#: Environment variable naming the config file (``--config`` wins over it).
ENV_CONFIG = "EZP2P_CONFIG"
#: Environment variable overriding our AE title.
ENV_AET = "EZP2P_AET"
DEFAULT_WORKLIST_FALLBACK_CHARSET = "ISO_IR 100"

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_TOML_LINE = re.compile(r"\s*\(at line (?P<line>\d+), column (?P<column>\d+)\)\s*$")


class ConfigError(Ezp2pError, ValueError):
    """Settings that cannot be used: names the file, the line when known, and the key."""


@dataclass(frozen=True)
class Config:
    """Everything the user configures. Edit with :func:`dataclasses.replace` or the
    helpers below; every helper returns a new ``Config``."""

    network: NetworkSettings = field(default_factory=NetworkSettings)
    destinations: dict[str, Destination] = field(default_factory=dict)
    default_destination: str = ""
    default_worklist: str = ""
    charset: str = DEFAULT_CHARSET
    institution_name: str = ""
    institution_address: str = ""
    station_name: str = ""
    series_description: str = ""
    series_number: int = 1
    outbox: Path | None = None
    worklist_fallback_charset: str = DEFAULT_WORKLIST_FALLBACK_CHARSET


# --------------------------------------------------------------------------- where


def config_path(explicit: str | os.PathLike[str] | None = None, environ=None) -> Path:
    """The config file: ``explicit`` (``--config``), else ``$EZP2P_CONFIG``, else
    ``config.toml`` in the user's config folder (platformdirs)."""
    environ = os.environ if environ is None else environ
    if explicit:
        return Path(explicit).expanduser()
    if environ.get(ENV_CONFIG):
        return Path(environ[ENV_CONFIG]).expanduser()
    return Path(user_config_dir(APP_NAME, appauthor=False)) / CONFIG_FILE_NAME


def apply_env(config: Config, environ: Mapping[str, str] | None = None) -> Config:
    """``config`` with the environment's overrides applied (``EZP2P_AET``)."""
    environ = os.environ if environ is None else environ
    aet = environ.get(ENV_AET, "")
    if not aet.strip():
        return config
    try:
        network = replace(config.network, ae_title=check_ae_title(aet))
    except Ezp2pError as error:
        raise ConfigError(f"environment variable {ENV_AET}: {error}") from None
    return replace(config, network=network)


def load_user_config(
    explicit: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """What the CLI and the widgets use: the config file found by :func:`config_path`,
    with the environment's overrides applied."""
    return apply_env(load_config(config_path(explicit, environ)), environ)


# --------------------------------------------------------------------------- reading


_NETWORK_KEYS = {
    "ae_title": str,
    "max_pdu": int,
    "acse_timeout": float,
    "dimse_timeout": float,
    "network_timeout": float,
}
_DEFAULTS_KEYS = {
    "destination": str,
    "worklist": str,
    "charset": str,
    "worklist_fallback_charset": str,
    "institution_name": str,
    "institution_address": str,
    "station_name": str,
    "series_description": str,
    "series_number": int,
}
_OUTBOX_KEYS = {"folder": str}
_DESTINATION_KEYS = {
    "ae_title": str,
    "host": str,
    "port": int,
    "transfer_syntax": str,
    "max_pdu": int,
    "associations": int,
    "tls": dict,
}
_TLS_KEYS = {"ca_file": str, "cert_file": str, "key_file": str, "verify": bool}
_TOP_KEYS = {"network": dict, "defaults": dict, "outbox": dict, "destinations": dict}

#: Which [defaults] key fills which Config field, and the DICOM keyword checking it.
_DEFAULT_FIELDS = {
    "institution_name": "InstitutionName",
    "institution_address": "InstitutionAddress",
    "station_name": "StationName",
    "series_description": "SeriesDescription",
}


class _Reader:
    """Checks a parsed TOML document, raising ConfigError with file, line and key."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def error(self, table: tuple[str, ...], key: str | None, message: str) -> ConfigError:
        where = ".".join((*table, key) if key else table)
        line = self.line_of(table, key)
        place = f"{self.path}, line {line}" if line else f"{self.path}"
        return ConfigError(f"{place}: {where}: {message}" if where else f"{place}: {message}")

    def line_of(self, table: tuple[str, ...], key: str | None) -> int | None:
        """The line where ``key`` is set in ``[table]`` (or the table's header): a best
        effort for the usual layout of one ``[table]`` header per table."""
        current: tuple[str, ...] = ()
        header_line = None
        for number, raw in enumerate(self.lines, start=1):
            line = raw.strip()
            if line.startswith("["):
                current = _header_parts(line)
                if current == table:
                    header_line = number
                    if key is None:
                        return number
                if key is not None and current == (*table, key):
                    return number
                continue
            if key is not None and current == table and _assigned_key(line) == key:
                return number
            if key is not None and not table and _assigned_key(line) == key:
                return number
        return header_line

    def table(self, data: Any, table: tuple[str, ...], schema: dict[str, type]) -> dict:
        if not isinstance(data, dict):
            raise self.error(table[:-1], table[-1], "must be a table")
        for key, value in data.items():
            if key not in schema:
                raise self.error(table, key, _unknown_key(key, schema))
            expected = schema[key]
            if not _is_type(value, expected):
                raise self.error(
                    table, key, f"must be {_TYPE_NAMES[expected]}, not {_describe(value)}"
                )
        return {key: float(v) if schema[key] is float else v for key, v in data.items()}

    def check(self, table: tuple[str, ...], key: str, action):
        """Run ``action``; turn the error it raises into a ConfigError at table.key."""
        try:
            return action()
        except Ezp2pError as error:
            raise self.error(table, key, str(error)) from None


_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dict: "a table",
}


def _is_type(value: Any, expected: type) -> bool:
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def _unknown_key(key: str, schema: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(key, list(schema), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key{hint}; known keys: {', '.join(schema)}"


def _header_parts(line: str) -> tuple[str, ...]:
    """``[destinations."my.pacs".tls]`` -> ("destinations", "my.pacs", "tls")."""
    inner = line.strip("[] \t")
    inner = inner.split("#", 1)[0].strip().rstrip("]").strip()
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([A-Za-z0-9_-]+)', inner)
    return tuple(a or b or c for a, b, c in parts)


def _assigned_key(line: str) -> str | None:
    match = re.match(r'^(?:"([^"]*)"|\'([^\']*)\'|([A-Za-z0-9_-]+))\s*=', line)
    return None if not match else (match[1] or match[2] or match[3])


def load_config(path: str | os.PathLike[str]) -> Config:
    """The settings in ``path``; the defaults when the file does not exist.

    Raises ConfigError naming the file, the line and the key of the first problem:
    invalid TOML, an unknown key, a value of the wrong type or one that cannot be used.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        match = _TOML_LINE.search(message)
        if match:
            message = message[: match.start()]
            raise ConfigError(
                f"{path}, line {match['line']}, column {match['column']}: invalid TOML: {message}"
            ) from None
        raise ConfigError(f"{path}: invalid TOML: {message}") from None
    return _config_from_dict(_Reader(path, text), data)


def _config_from_dict(reader: _Reader, data: dict) -> Config:
    top = reader.table(data, (), _TOP_KEYS)
    network_data = reader.table(top.get("network", {}), ("network",), _NETWORK_KEYS)
    defaults = reader.table(top.get("defaults", {}), ("defaults",), _DEFAULTS_KEYS)
    outbox = reader.table(top.get("outbox", {}), ("outbox",), _OUTBOX_KEYS)

    network = NetworkSettings()
    for key, value in network_data.items():
        table = ("network",)
        if key == "max_pdu":
            reader.check(table, key, lambda v=value: _check_max_pdu(v))
        elif key.endswith("_timeout"):
            reader.check(table, key, lambda v=value: _check_timeout(v))
        network = reader.check(table, key, lambda n=network, k=key, v=value: replace(n, **{k: v}))

    destinations = {}
    for name, item in top.get("destinations", {}).items():
        destinations[name] = _destination_from_dict(reader, name, item)

    values: dict[str, Any] = {}
    for key, value in defaults.items():
        table = ("defaults",)
        if key in ("destination", "worklist"):
            if value and value not in destinations:
                raise reader.error(table, key, _unknown_destination(value, destinations))
            values[f"default_{key}"] = value
        elif key in ("charset", "worklist_fallback_charset"):
            reader.check(table, key, lambda v=value: charset_terms(v))
            values[key] = value
        elif key == "series_number":
            if not 0 <= value <= 2**31 - 1:
                raise reader.error(table, key, f"{value} is not in 0-2147483647")
            values[key] = value
        else:
            values[key] = value
    charset = charset_terms(values.get("charset", DEFAULT_CHARSET))
    for key, keyword in _DEFAULT_FIELDS.items():
        if key in values:
            reader.check(
                ("defaults",), key, lambda k=keyword, v=values[key]: check_value(k, v, charset)
            )
    folder = outbox.get("folder", "")
    return Config(
        network=network,
        destinations=destinations,
        outbox=Path(folder).expanduser() if folder else None,
        **values,
    )


def _destination_from_dict(reader: _Reader, name: str, data: Any) -> Destination:
    table = ("destinations", name)
    if not _NAME.match(name):
        raise reader.error(("destinations",), name, _NAME_RULE)
    item = reader.table(data, table, _DESTINATION_KEYS)
    for key in ("ae_title", "host", "port"):
        if key not in item:
            raise reader.error(table, None, f"{key} is missing")
    tls = None
    if "tls" in item:
        tls = TlsSettings(**reader.table(item["tls"], (*table, "tls"), _TLS_KEYS))
    ts = item.get("transfer_syntax", "")
    if ts:
        ts = reader.check(table, "transfer_syntax", lambda: lookup_transfer_syntax(ts).key)
    if "max_pdu" in item:
        reader.check(table, "max_pdu", lambda: _check_max_pdu(item["max_pdu"]))
    if "associations" in item:
        reader.check(table, "associations", lambda: _check_associations(item["associations"]))
    if not 1 <= item["port"] <= 65535:
        raise reader.error(table, "port", f"{item['port']} is not in 1-65535")
    reader.check(table, "ae_title", lambda: check_ae_title(item["ae_title"]))
    return reader.check(
        table,
        "host",
        lambda: Destination(
            name,
            item["ae_title"].strip(),
            item["host"].strip(),
            item["port"],
            tls=tls,
            transfer_syntax=ts,
            max_pdu=item.get("max_pdu", DEFAULT_MAX_PDU),
            associations=item.get("associations", 1),
        ),
    )


def _check_max_pdu(value: int) -> None:
    # 0 means unlimited; otherwise PS3.8 allows 4096 upwards (pynetdicom refuses less).
    if value != 0 and not 4096 <= value <= 2**32 - 1:
        raise ConfigError(f"max PDU {value} must be 0 (unlimited) or 4096 to 4294967295")


def _check_associations(value: int) -> None:
    if not 1 <= value <= MAX_ASSOCIATIONS:
        raise ConfigError(f"{value} associations at once: use 1 to {MAX_ASSOCIATIONS}")


def _check_timeout(value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"timeout {value} must be a number of seconds greater than 0")


# --------------------------------------------------------------------------- writing


def save_config(config: Config, path: str | os.PathLike[str]) -> Path:
    """Write ``config`` to ``path`` as TOML, atomically (a temporary file, then
    ``os.replace``), creating the folders. Comments in an older file are not kept."""
    path = Path(path)
    text = dumps_config(config)
    # What is written must load: check it as load_config would, before touching the file.
    _config_from_dict(_Reader(path, text), tomllib.loads(text))
    try:
        with atomic_file(path, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
    except OSError as error:
        raise ConfigError(f"{path}: cannot write: {error.strerror or error}") from None
    return path


def dumps_config(config: Config) -> str:
    """``config`` as TOML text (only what :func:`load_config` reads back)."""
    network = config.network
    document = {
        "network": {
            "ae_title": network.ae_title,
            "max_pdu": network.max_pdu,
            "acse_timeout": float(network.acse_timeout),
            "dimse_timeout": float(network.dimse_timeout),
            "network_timeout": float(network.network_timeout),
        },
        "defaults": {
            "destination": config.default_destination,
            "worklist": config.default_worklist,
            "charset": config.charset,
            "worklist_fallback_charset": config.worklist_fallback_charset,
            "institution_name": config.institution_name,
            "institution_address": config.institution_address,
            "station_name": config.station_name,
            "series_description": config.series_description,
            "series_number": config.series_number,
        },
        "outbox": {"folder": str(config.outbox) if config.outbox else ""},
        "destinations": {
            name: _destination_table(destination)
            for name, destination in config.destinations.items()
        },
    }
    try:
        return "# napari-ezp2p settings\n\n" + tomli_w.dumps(document)
    except ValueError as error:
        raise ConfigError(f"cannot write the config: {error}") from None


def _destination_table(destination: Destination) -> dict[str, Any]:
    table: dict[str, Any] = {
        "ae_title": destination.ae_title,
        "host": destination.host,
        "port": destination.port,
        "transfer_syntax": destination.transfer_syntax,
        "max_pdu": destination.max_pdu,
    }
    if destination.associations != 1:
        table["associations"] = destination.associations
    if destination.tls is not None:
        table["tls"] = {f.name: getattr(destination.tls, f.name) for f in fields(TlsSettings)}
    return table


# --------------------------------------------------------------------------- using


_NAME_RULE = "a destination name is 1 to 64 letters, digits, '-', '_' or '.'"


def _unknown_destination(text: str, destinations: Mapping[str, Destination]) -> str:
    names = ", ".join(sorted(destinations)) or "none"
    return f"{text!r} is not a configured destination (configured: {names})"


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
        f"unknown {what}: {_unknown_destination(text, config.destinations)}; "
        "or give one as AET@host:port"
    )


def check_destination_name(name: str) -> str:
    """``name`` if it can name a destination (1-64 letters, digits, ``-_.``)."""
    if not _NAME.match(name):
        raise ConfigError(f"destination name {name!r}: {_NAME_RULE}")
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
        _check_max_pdu(max_pdu)
        _check_associations(associations)
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
        raise ConfigError(f"cannot remove: {_unknown_destination(name, config.destinations)}")
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
