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
    kind = "dimse"               # the transport (net/transports.py); DIMSE by default
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

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from platformdirs import user_config_dir

from ..core.errors import Ezp2pError
from ..net.destination import check_ae_title
from ._destinations import (
    add_destination,
    check_destination_name,
    format_destinations,
    metadata_defaults,
    remove_destination,
    resolve_destination,
    resolve_worklist,
)
from ._read import load_config
from ._settings import DEFAULT_WORKLIST_FALLBACK_CHARSET, Config, ConfigError
from ._write import dumps_config, save_config

APP_NAME = "napari-ezp2p"
CONFIG_FILE_NAME = "config.toml"
#: Environment variable naming the config file (``--config`` wins over it).
ENV_CONFIG = "EZP2P_CONFIG"
#: Environment variable overriding our AE title.
ENV_AET = "EZP2P_AET"
#: Environment variable naming the outbox folder (``--outbox`` wins over it).
ENV_OUTBOX = "EZP2P_OUTBOX"

__all__ = [
    "APP_NAME",
    "CONFIG_FILE_NAME",
    "DEFAULT_WORKLIST_FALLBACK_CHARSET",
    "ENV_AET",
    "ENV_CONFIG",
    "ENV_OUTBOX",
    "Config",
    "ConfigError",
    "add_destination",
    "apply_env",
    "check_destination_name",
    "config_path",
    "dumps_config",
    "format_destinations",
    "load_config",
    "load_user_config",
    "metadata_defaults",
    "outbox_folder",
    "remove_destination",
    "resolve_destination",
    "resolve_worklist",
    "save_config",
]


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


def outbox_folder(
    config: Config,
    explicit: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """The outbox folder every face uses: ``explicit`` (``--outbox``), else
    ``$EZP2P_OUTBOX``, else the config's ``[outbox] folder``, else the default place
    (:func:`~napari_ezp2p.outbox.default_outbox_folder`). Empty values count as unset."""
    environ = os.environ if environ is None else environ
    chosen = explicit or environ.get(ENV_OUTBOX) or config.outbox
    if chosen:
        return Path(chosen)
    from ..outbox import default_outbox_folder

    return default_outbox_folder()
