"""Reading the TOML settings file: every error names the file, the line and the key."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..core.errors import Ezp2pError
from ..core.metadata import DEFAULT_CHARSET, charset_terms, check_value
from ..core.transfer import transfer_syntax as lookup_transfer_syntax
from ..net.destination import (
    DEFAULT_MAX_PDU,
    Destination,
    NetworkSettings,
    TlsSettings,
    check_ae_title,
)
from ._settings import (
    NAME,
    NAME_RULE,
    Config,
    ConfigError,
    check_associations,
    check_max_pdu,
    check_timeout,
    unknown_destination,
)

_TOML_LINE = re.compile(r"\s*\(at line (?P<line>\d+), column (?P<column>\d+)\)\s*$")


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
    "kind": str,
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
    return config_from_text(path, text)


def config_from_text(path: Path, text: str) -> Config:
    """The settings in ``text``, read from ``path`` (named in the errors)."""
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
            reader.check(table, key, lambda v=value: check_max_pdu(v))
        elif key.endswith("_timeout"):
            reader.check(table, key, lambda v=value: check_timeout(v))
        network = reader.check(table, key, lambda n=network, k=key, v=value: replace(n, **{k: v}))

    destinations = {}
    for name, item in top.get("destinations", {}).items():
        destinations[name] = _destination_from_dict(reader, name, item)

    values: dict[str, Any] = {}
    for key, value in defaults.items():
        table = ("defaults",)
        if key in ("destination", "worklist"):
            if value and value not in destinations:
                raise reader.error(table, key, unknown_destination(value, destinations))
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
    if not NAME.match(name):
        raise reader.error(("destinations",), name, NAME_RULE)
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
        reader.check(table, "max_pdu", lambda: check_max_pdu(item["max_pdu"]))
    if "associations" in item:
        reader.check(table, "associations", lambda: check_associations(item["associations"]))
    kind = item.get("kind", "dimse")
    reader.check(table, "kind", lambda: _check_kind(kind))
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
            kind=kind,
        ),
    )


def _check_kind(kind: str) -> None:
    from ..net.transports import TRANSPORTS

    if kind not in TRANSPORTS:
        raise ConfigError(f"unknown kind {kind!r}: use one of {', '.join(TRANSPORTS)}")
