"""Where DICOM traffic goes and how: remote AEs, TLS and association settings."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.errors import Ezp2pError

DEFAULT_AE_TITLE = "EZP2P"
DEFAULT_MAX_PDU = 16384
#: The most associations one transfer may open to a destination at once.
MAX_ASSOCIATIONS = 16

_ADDRESS = re.compile(r"^(?P<aet>[^@]+)@(?P<host>\[[^\]]+\]|[^:@]+):(?P<port>\d+)$")


class DestinationError(Ezp2pError, ValueError):
    """A destination or AE title that cannot be used (says which and why)."""


def check_ae_title(title: str) -> str:
    """``title`` if it is a valid AE title: 1-16 characters, no backslash or control ones."""
    stripped = title.strip()
    if not 1 <= len(stripped) <= 16:
        raise DestinationError(f"AE title {title!r} must be 1 to 16 characters")
    if "\\" in stripped or any(ord(c) < 32 or ord(c) > 126 for c in stripped):
        raise DestinationError(
            f"AE title {title!r} may hold only printable ASCII characters, no backslash"
        )
    return stripped


@dataclass(frozen=True)
class TlsSettings:
    """TLS for an association: the CA bundle that vouches for the peer, an optional
    client certificate and key, and whether the peer's certificate is verified."""

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    verify: bool = True


@dataclass(frozen=True)
class Destination:
    """A remote AE: a PACS, a worklist server, or both.

    ``transfer_syntax`` is the preferred key (e.g. "jpeg-ls"); empty means send the
    objects as they are encoded. ``associations`` is how many associations a transfer
    to it may use at once (for a PACS that stores in parallel). ``kind`` names the
    transport the outbox sends to it by (``net.transports``): "dimse".
    """

    name: str
    ae_title: str
    host: str
    port: int
    tls: TlsSettings | None = None
    transfer_syntax: str = ""
    max_pdu: int = DEFAULT_MAX_PDU
    associations: int = 1
    kind: str = "dimse"

    def __post_init__(self) -> None:
        check_ae_title(self.ae_title)
        if not 1 <= self.port <= 65535:
            raise DestinationError(f"{self.name}: port {self.port} is not in 1-65535")
        if not self.host:
            raise DestinationError(f"{self.name}: no host")
        if self.max_pdu < 0:
            raise DestinationError(f"{self.name}: max PDU {self.max_pdu} must be 0 or more")
        if not 1 <= self.associations <= MAX_ASSOCIATIONS:
            raise DestinationError(
                f"{self.name}: {self.associations} associations at once: "
                f"use 1 to {MAX_ASSOCIATIONS}"
            )

    @property
    def address(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


def parse_address(text: str) -> Destination:
    """A destination written as ``AET@host:port``."""
    match = _ADDRESS.match(text.strip())
    if not match:
        raise DestinationError(f"{text!r} is not a destination name or AET@host:port")
    host = match["host"].strip("[]")
    return Destination(text.strip(), match["aet"], host, int(match["port"]))


@dataclass(frozen=True)
class NetworkSettings:
    """Our side of every association."""

    ae_title: str = DEFAULT_AE_TITLE
    max_pdu: int = DEFAULT_MAX_PDU
    acse_timeout: float = 30.0
    dimse_timeout: float = 60.0
    network_timeout: float = 60.0

    def __post_init__(self) -> None:
        check_ae_title(self.ae_title)
