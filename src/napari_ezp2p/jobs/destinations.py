"""Destinations as the Destinations dock edits them: one destination's form, the
config with it saved, our AE title, and a C-ECHO of what the form says.

The edits return a new :class:`~napari_ezp2p.config.Config`; saving it is the
caller's (through :func:`napari_ezp2p.config.save_config`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from ..config import Config, add_destination, load_user_config
from ..net.association import EchoResult, echo
from ..net.destination import DEFAULT_MAX_PDU, Destination, TlsSettings, check_ae_title


@dataclass(frozen=True)
class DestinationForm:
    """What the editor holds for one destination."""

    name: str = ""
    ae_title: str = ""
    host: str = "127.0.0.1"
    port: int = 104
    transfer_syntax: str = ""
    max_pdu: int = DEFAULT_MAX_PDU
    associations: int = 1
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    verify: bool = True
    default: bool = False
    worklist: bool = False

    @property
    def address(self) -> str:
        host = self.host.strip()
        host = f"[{host}]" if ":" in host else host
        return f"{self.ae_title.strip()}@{host}:{self.port}"

    @property
    def tls_settings(self) -> TlsSettings | None:
        if not self.tls:
            return None
        return TlsSettings(self.ca_file.strip(), self.cert_file, self.key_file, self.verify)


def form_of(config: Config, name: str) -> DestinationForm:
    """The editor's values for the configured destination ``name``."""
    dest = config.destinations[name]
    tls = dest.tls or TlsSettings()
    return DestinationForm(
        name=name,
        ae_title=dest.ae_title,
        host=dest.host,
        port=dest.port,
        transfer_syntax=dest.transfer_syntax,
        max_pdu=dest.max_pdu,
        associations=dest.associations,
        tls=dest.tls is not None,
        ca_file=tls.ca_file,
        cert_file=tls.cert_file,
        key_file=tls.key_file,
        verify=tls.verify,
        default=config.default_destination == name,
        worklist=config.default_worklist == name,
    )


def with_destination(config: Config, form: DestinationForm) -> Config:
    """``config`` with the destination of ``form`` added, or replacing the one of that
    name; it is the default destination / worklist server exactly when the form says so
    (a new destination also becomes the default when there is none)."""
    new = add_destination(
        config,
        form.name.strip(),
        form.address,
        tls=form.tls_settings,
        transfer_syntax=form.transfer_syntax,
        max_pdu=form.max_pdu,
        associations=form.associations,
        default=form.default,
        worklist=form.worklist,
        replace_existing=True,
    )
    name = form.name.strip()
    if not form.default and config.default_destination == name:
        new = dataclasses.replace(new, default_destination="")
    if not form.worklist and config.default_worklist == name:
        new = dataclasses.replace(new, default_worklist="")
    return new


def destination_of(form: DestinationForm) -> Destination:
    """The destination ``form`` describes, checked as saving would check it."""
    name = form.name.strip() or "unsaved"
    return with_destination(Config(), dataclasses.replace(form, name=name)).destinations[name]


def with_ae_title(config: Config, title: str) -> Config:
    """``config`` with our AE title set to ``title`` (checked)."""
    network = dataclasses.replace(config.network, ae_title=check_ae_title(title))
    return dataclasses.replace(config, network=network)


def roles(config: Config, name: str) -> list[str]:
    """What the configured destination ``name`` is besides a destination: "default",
    "worklist" (the default worklist server), "TLS"."""
    dest = config.destinations[name]
    return [
        role
        for role, on in (
            ("default", name == config.default_destination),
            ("worklist", name == config.default_worklist),
            ("TLS", dest.tls is not None),
        )
        if on
    ]


def still_sendable(chosen: Sequence[str], config: Config) -> tuple[str, ...]:
    """The destinations of ``chosen`` a send can still go to with ``config``: names it
    configures and ``AET@host:port`` addresses."""
    return tuple(d for d in chosen if d in config.destinations or "@" in d)


def describe_echo(result: EchoResult) -> str:
    """ "success, 3.2 ms", or the reason the echo failed."""
    if result.ok:
        return f"success, {result.seconds * 1000:.1f} ms"
    return result.error or "failed"


def echo_form(form: DestinationForm) -> EchoResult:
    """C-ECHO the destination of ``form`` with our settings from the user's config."""
    return echo(destination_of(form), load_user_config().network)
