"""What the user configures (:class:`Config`), its error, and the checks its reader and
its editors share."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import Ezp2pError
from ..core.metadata import DEFAULT_CHARSET
from ..net.destination import MAX_ASSOCIATIONS, Destination, NetworkSettings

DEFAULT_WORKLIST_FALLBACK_CHARSET = "ISO_IR 100"

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
NAME_RULE = "a destination name is 1 to 64 letters, digits, '-', '_' or '.'"


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


def unknown_destination(text: str, destinations: Mapping[str, Destination]) -> str:
    """Why ``text`` names no destination, listing those configured."""
    names = ", ".join(sorted(destinations)) or "none"
    return f"{text!r} is not a configured destination (configured: {names})"


def check_max_pdu(value: int) -> None:
    # 0 means unlimited; otherwise PS3.8 allows 4096 upwards (pynetdicom refuses less).
    if value != 0 and not 4096 <= value <= 2**32 - 1:
        raise ConfigError(f"max PDU {value} must be 0 (unlimited) or 4096 to 4294967295")


def check_associations(value: int) -> None:
    if not 1 <= value <= MAX_ASSOCIATIONS:
        raise ConfigError(f"{value} associations at once: use 1 to {MAX_ASSOCIATIONS}")


def check_timeout(value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"timeout {value} must be a number of seconds greater than 0")
