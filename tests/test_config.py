"""The settings file: where it is, reading, writing, editing destinations, overrides."""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from napari_ezp2p.config import (
    Config,
    ConfigError,
    add_destination,
    apply_env,
    config_path,
    dumps_config,
    format_destinations,
    load_config,
    load_user_config,
    remove_destination,
    resolve_destination,
    resolve_worklist,
    save_config,
)
from napari_ezp2p.core.errors import Ezp2pError
from napari_ezp2p.net.destination import Destination, NetworkSettings, TlsSettings

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


TLS_TYPO = """\
[destinations.pacs]
ae_title = 'A'
host = 'h'
port = 1

[destinations.pacs.tls]
ca = 'x'
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    return message


# --------------------------------------------------------------------------- where


def test_config_path_explicit_then_env_then_user_dir(tmp_path, monkeypatch):
    explicit = tmp_path / "mine.toml"
    env = {"EZP2P_CONFIG": str(tmp_path / "env.toml")}
    assert config_path(explicit, env) == explicit
    assert config_path(None, env) == tmp_path / "env.toml"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    default = config_path(None, {})
    assert default.name == "config.toml"
    assert default.parent.name == "napari-ezp2p"
    if sys.platform.startswith("linux"):
        assert default == tmp_path / "xdg" / "napari-ezp2p" / "config.toml"


# --------------------------------------------------------------------------- reading


def test_missing_file_gives_the_defaults(tmp_path):
    config = load_config(tmp_path / "nowhere" / "config.toml")
    assert config == Config()
    assert config.network.ae_title == "EZP2P"
    assert config.network.max_pdu == 16384
    assert config.charset == "ISO_IR 192"
    assert config.worklist_fallback_charset == "ISO_IR 100"
    assert config.destinations == {}


def test_example_file_is_read(tmp_path):
    config = load_config(_write(tmp_path, EXAMPLE))
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


# --------------------------------------------------------------------------- writing


def test_save_and_load_round_trip(tmp_path):
    config = load_config(_write(tmp_path, EXAMPLE))
    config = replace(
        config,
        network=NetworkSettings(ae_title="ME", max_pdu=0, dimse_timeout=12.5),
        institution_address='1 "Quoted" Street\\Backslash\nNew line\x7f',
        charset="ISO_IR 100",
    )
    config = add_destination(config, "a.b-c_d", "X@[::1]:11112")
    target = tmp_path / "deeper" / "folder" / "config.toml"
    assert save_config(config, target) == target
    assert load_config(target) == config
    assert tomllib.loads(target.read_text(encoding="utf-8"))["destinations"]["a.b-c_d"][
        "host"
    ] == ("::1")
    assert [p.name for p in target.parent.iterdir()] == ["config.toml"]  # no temporary left


def test_associations_are_written_only_when_not_1(tmp_path):
    config = add_destination(Config(), "one", "A@h:1")
    config = add_destination(config, "four", "B@h:2", associations=4)
    path = save_config(config, tmp_path / "config.toml")
    tables = tomllib.loads(path.read_text(encoding="utf-8"))["destinations"]
    assert "associations" not in tables["one"]
    assert tables["four"]["associations"] == 4
    loaded = load_config(path)
    assert loaded == config
    assert loaded.destinations["one"].associations == 1


def test_save_replaces_the_file_atomically(tmp_path, monkeypatch):
    target = tmp_path / "config.toml"
    save_config(Config(station_name="OLD"), target)
    calls = []
    real_replace = os.replace

    def spy(src, dst):
        calls.append((Path(src).parent, Path(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    save_config(Config(station_name="NEW"), target)
    assert calls == [(tmp_path, target)]
    assert load_config(target).station_name == "NEW"


def test_save_refuses_what_could_not_be_loaded_back(tmp_path):
    target = tmp_path / "config.toml"
    save_config(Config(station_name="KEPT"), target)
    with pytest.raises(ConfigError, match="defaults.station_name"):
        save_config(Config(station_name="MUCH-TOO-LONG-FOR-SH"), target)
    assert load_config(target).station_name == "KEPT"


def test_defaults_written_are_read_back_identically(tmp_path):
    text = dumps_config(Config())
    assert load_config(_write(tmp_path, text)) == Config()


# --------------------------------------------------------------------------- editing


def test_add_destination_first_becomes_default(tmp_path):
    config = add_destination(Config(), "pacs", "ORTHANC@127.0.0.1:4242", transfer_syntax="rle")
    assert config.default_destination == "pacs"
    assert config.default_worklist == ""
    assert config.destinations["pacs"] == Destination(
        "pacs", "ORTHANC", "127.0.0.1", 4242, transfer_syntax="rle"
    )
    config = add_destination(config, "other", "B@h:1", max_pdu=65536, associations=16)
    assert config.default_destination == "pacs"
    assert config.destinations["other"].max_pdu == 65536
    assert config.destinations["other"].associations == 16
    config = add_destination(config, "ris", "WLM@h:2", default=True, worklist=True)
    assert (config.default_destination, config.default_worklist) == ("ris", "ris")


def test_add_destination_keeps_the_original_unchanged():
    original = Config()
    add_destination(original, "pacs", "A@h:1")
    assert original.destinations == {}


def test_add_destination_transfer_syntax_by_uid_is_stored_as_key():
    config = add_destination(Config(), "p", "A@h:1", transfer_syntax="1.2.840.10008.1.2.4.80")
    assert config.destinations["p"].transfer_syntax == "jpeg-ls"


@pytest.mark.parametrize(
    ("name", "address", "kwargs", "words"),
    [
        ("", "A@h:1", {}, "1 to 64"),
        ("a" * 65, "A@h:1", {}, "1 to 64"),
        ("has space", "A@h:1", {}, "1 to 64"),
        ("A@h:1", "A@h:1", {}, "1 to 64"),
        ("p", "no-port", {}, "AET@host:port"),
        ("p", "A@h:0", {}, "1-65535"),
        ("p", "THIS-AE-IS-TOO-LONG@h:1", {}, "1 to 16"),
        ("p", "A@h:1", {"transfer_syntax": "gif"}, "unknown transfer syntax"),
        ("p", "A@h:1", {"max_pdu": 12}, "4096"),
        ("p", "A@h:1", {"associations": 0}, "'p': 0 associations at once: use 1 to 16"),
        ("p", "A@h:1", {"associations": 17}, "'p': 17 associations at once: use 1 to 16"),
        ("p", "A@h:1", {"tls": TlsSettings(ca_file="/no/such/ca.pem")}, "not a file"),
    ],
)
def test_add_destination_refuses_bad_input(name, address, kwargs, words):
    with pytest.raises(Ezp2pError, match=words):
        add_destination(Config(), name, address, **kwargs)


def test_add_destination_refuses_a_duplicate_unless_replacing():
    config = add_destination(Config(), "p", "A@h:1")
    with pytest.raises(ConfigError, match="already exists"):
        add_destination(config, "p", "B@h:2")
    config = add_destination(config, "p", "B@h:2", replace_existing=True)
    assert config.destinations["p"].ae_title == "B"


def test_add_destination_tls_paths_become_absolute(tmp_path, monkeypatch):
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("x")
    monkeypatch.chdir(tmp_path)
    tls = TlsSettings("ca.pem", "cert.pem", "key.pem", verify=False)
    config = add_destination(Config(), "secure", "A@h:2762", tls=tls)
    saved = config.destinations["secure"].tls
    assert saved == TlsSettings(
        str(tmp_path / "ca.pem"), str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"), False
    )
    path = save_config(config, tmp_path / "c.toml")
    assert load_config(path).destinations["secure"].tls == saved


def test_remove_destination_clears_defaults_that_named_it():
    config = add_destination(Config(), "pacs", "A@h:1")
    config = add_destination(config, "ris", "B@h:2", worklist=True)
    both = add_destination(config, "both", "C@h:3", default=True, worklist=True)
    after = remove_destination(both, "both")
    assert set(after.destinations) == {"pacs", "ris"}
    assert (after.default_destination, after.default_worklist) == ("", "")
    after = remove_destination(config, "ris")
    assert (after.default_destination, after.default_worklist) == ("pacs", "")
    with pytest.raises(ConfigError, match=r"'nope'.*configured: pacs, ris"):
        remove_destination(config, "nope")


def test_format_destinations_lists_each_with_its_defaults():
    config = add_destination(Config(), "pacs", "ORTHANC@127.0.0.1:4242", transfer_syntax="rle")
    config = add_destination(config, "ris", "WLM@h:104", worklist=True, associations=3)
    lines = format_destinations(config)
    assert len(lines) == 2
    assert "ORTHANC@127.0.0.1:4242" in lines[0] and "rle" in lines[0] and "default" in lines[0]
    assert "associations" not in lines[0]
    assert "WLM@h:104" in lines[1] and "worklist" in lines[1]
    assert "3 associations" in lines[1]


# --------------------------------------------------------------------------- using


def test_resolve_by_name_by_address_and_default():
    config = add_destination(Config(), "pacs", "ORTHANC@127.0.0.1:4242", transfer_syntax="rle")
    config = add_destination(config, "ris", "WLM@h:104", worklist=True)
    assert resolve_destination(config, "pacs") is config.destinations["pacs"]
    assert resolve_destination(config, None) is config.destinations["pacs"]
    assert resolve_worklist(config) is config.destinations["ris"]
    direct = resolve_destination(config, "STORESCP@localhost:11112")
    assert (direct.ae_title, direct.host, direct.port) == ("STORESCP", "localhost", 11112)
    assert direct.associations == 1


def test_resolve_unknown_lists_configured_names():
    config = add_destination(Config(), "pacs", "A@h:1")
    config = add_destination(config, "archive", "B@h:2")
    with pytest.raises(ConfigError, match=r"'pcas'.*configured: archive, pacs.*AET@host:port"):
        resolve_destination(config, "pcas")
    with pytest.raises(ConfigError, match="no default worklist"):
        resolve_worklist(config)
    with pytest.raises(Ezp2pError, match="1 to 16"):
        resolve_destination(config, "WAY-TOO-LONG-AE-TITLE@h:1")


def test_env_overrides_the_local_ae_title(tmp_path):
    config = Config()
    assert apply_env(config, {}) == config
    assert apply_env(config, {"EZP2P_AET": "  SCANNER1 "}).network.ae_title == "SCANNER1"
    with pytest.raises(ConfigError, match="EZP2P_AET"):
        apply_env(config, {"EZP2P_AET": "X" * 17})
    path = _write(tmp_path, EXAMPLE)
    env = {"EZP2P_CONFIG": str(path), "EZP2P_AET": "FROMENV"}
    loaded = load_user_config(None, env)
    assert loaded.network.ae_title == "FROMENV"
    assert loaded.default_destination == "pacs"
