"""Reading the settings file: every value, and errors that name the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_ezp2p.config import Config, ConfigError, load_config
from napari_ezp2p.core.errors import Ezp2pError
from napari_ezp2p.net.destination import Destination, TlsSettings
from tests.config.examples import EXAMPLE, write_config

TLS_TYPO = """\
[destinations.pacs]
ae_title = 'A'
host = 'h'
port = 1

[destinations.pacs.tls]
ca = 'x'
"""


def _error(tmp_path: Path, text: str) -> str:
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    return message


def test_missing_file_gives_the_defaults(tmp_path):
    config = load_config(tmp_path / "nowhere" / "config.toml")
    assert config == Config()
    assert config.network.ae_title == "EZP2P"
    assert config.network.max_pdu == 16384
    assert config.charset == "ISO_IR 192"
    assert config.worklist_fallback_charset == "ISO_IR 100"
    assert config.destinations == {}


def test_example_file_is_read(tmp_path):
    config = load_config(write_config(tmp_path, EXAMPLE))
    assert config.default_destination == "pacs"
    assert config.default_worklist == "ris"
    assert config.institution_name == "Hôpital Saint-Éloi"
    assert config.station_name == "SCAN1"
    assert config.series_description == "Film scans"
    assert config.series_number == 900
    assert config.outbox == Path("/var/tmp/ezp2p-outbox")
    assert config.destinations["pacs"] == Destination(
        "pacs",
        "ORTHANC",
        "127.0.0.1",
        4242,
        tls=TlsSettings(ca_file="/etc/ssl/ca.pem", verify=False),
        transfer_syntax="jpeg-ls",
        max_pdu=32768,
        associations=4,
    )
    assert config.destinations["ris"] == Destination("ris", "WLM", "ris.example.org", 104)


def test_broken_toml_names_file_and_line(tmp_path):
    message = _error(tmp_path, '[network]\nae_title = "EZP2P"\nmax_pdu = = 3\n')
    assert "line 3" in message
    assert "invalid TOML" in message


@pytest.mark.parametrize(
    ("text", "where", "line", "words"),
    [
        ("[network]\nae_titel = 'X'\n", "network.ae_titel", 2, "did you mean 'ae_title'"),
        ("[netwrok]\nae_title = 'X'\n", "netwrok", 1, "unknown key"),
        ("[defaults]\n\ncharst = 'ISO_IR 100'\n", "defaults.charst", 3, "did you mean"),
        (
            "[destinations.pacs]\nae_title = 'A'\nhost = 'h'\nport = 1\nprot = 2\n",
            "destinations.pacs.prot",
            5,
            "did you mean 'port'",
        ),
        (
            TLS_TYPO,
            "destinations.pacs.tls.ca",
            7,
            "unknown key",
        ),
        ("[network]\nmax_pdu = '16384'\n", "network.max_pdu", 2, "must be an integer"),
        ("[network]\nmax_pdu = 100\n", "network.max_pdu", 2, "4096"),
        ("[network]\nae_title = 'MUCH-TOO-LONG-AE-TITLE'\n", "network.ae_title", 2, "1 to 16"),
        ("[network]\ndimse_timeout = -1\n", "network.dimse_timeout", 2, "greater than 0"),
        ("[defaults]\ncharset = 'ISO_IR 999'\n", "defaults.charset", 2, "unknown term"),
        ("[defaults]\nseries_number = true\n", "defaults.series_number", 2, "integer"),
        ("[defaults]\nstation_name = 'WAY-TOO-LONG-STATION'\n", "defaults.station_name", 2, ""),
        ("[defaults]\ndestination = 'nope'\n", "defaults.destination", 2, "configured: none"),
        (
            "[destinations.pacs]\nae_title = 'A'\nhost = 'h'\nport = 70000\n",
            "destinations.pacs.port",
            4,
            "1-65535",
        ),
        (
            "[destinations.pacs]\nae_title = 'A'\nhost = 'h'\nport = 1\ntransfer_syntax = 'gif'\n",
            "destinations.pacs.transfer_syntax",
            5,
            "unknown transfer syntax",
        ),
        (
            "[destinations.pacs]\nae_title = 'A'\nhost = 'h'\nport = 1\nassociations = 0\n",
            "destinations.pacs.associations",
            5,
            "0 associations at once: use 1 to 16",
        ),
        (
            "[destinations.pacs]\nassociations = 17\nae_title = 'A'\nhost = 'h'\nport = 1\n",
            "destinations.pacs.associations",
            2,
            "17 associations at once: use 1 to 16",
        ),
        (
            "[destinations.pacs]\nae_title = 'A'\nhost = 'h'\nport = 1\nassociations = 2.0\n",
            "destinations.pacs.associations",
            5,
            "must be an integer",
        ),
        (
            "[destinations.pacs]\nae_title = 'A'\nhost = 'h'\nport = 1\nkind = 'fax'\n",
            "destinations.pacs.kind",
            5,
            "unknown kind 'fax': use one of dimse",
        ),
        ("[destinations.pacs]\nae_title = 'A'\nport = 1\n", "destinations.pacs", 1, "host"),
        ("[destinations.'bad name']\n", "destinations.bad name", None, "1 to 64"),
    ],
)
def test_bad_settings_name_file_line_and_key(tmp_path, text, where, line, words):
    message = _error(tmp_path, text)
    assert f"{where}:" in message
    if line is not None:
        assert f"line {line}:" in message
    assert words in message


def test_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"[defaults]\ninstitution_name = '\xe9'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_config_error_is_an_ezp2p_error():
    assert issubclass(ConfigError, Ezp2pError)
