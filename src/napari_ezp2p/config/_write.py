"""Writing the settings file: TOML, atomically, only what the reader reads back."""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import tomli_w

from ..core.files import atomic_file
from ..net.destination import Destination, TlsSettings
from ._read import config_from_text
from ._settings import Config, ConfigError


def save_config(config: Config, path: str | os.PathLike[str]) -> Path:
    """Write ``config`` to ``path`` as TOML, atomically (a temporary file, then
    ``os.replace``), creating the folders. Comments in an older file are not kept."""
    path = Path(path)
    text = dumps_config(config)
    # What is written must load: check it as load_config would, before touching the file.
    config_from_text(path, text)
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
    table: dict[str, Any] = {} if destination.kind == "dimse" else {"kind": destination.kind}
    table |= {
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
