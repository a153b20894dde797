"""A settings file with every table, for the config tests."""

from __future__ import annotations

from pathlib import Path

EXAMPLE = """\
[network]
ae_title = "EZP2P"
max_pdu = 16384

[defaults]
destination = "pacs"
worklist = "ris"
charset = "ISO_IR 192"
institution_name = "Hôpital Saint-Éloi"
station_name = "SCAN1"
series_description = "Film scans"
series_number = 900

[outbox]
folder = "/var/tmp/ezp2p-outbox"

[destinations.pacs]
ae_title = "ORTHANC"
host = "127.0.0.1"
port = 4242
transfer_syntax = "jpeg-ls"
max_pdu = 32768
associations = 4

[destinations.pacs.tls]
ca_file = "/etc/ssl/ca.pem"
verify = false

[destinations.ris]
ae_title = "WLM"
host = "ris.example.org"
port = 104
"""


def write_config(tmp_path: Path, text: str) -> Path:
    """``text`` as ``tmp_path/config.toml``."""
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path
