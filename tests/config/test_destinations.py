"""Editing and resolving the configured destinations."""

from __future__ import annotations

import pytest

from napari_ezp2p.config import (
    Config,
    ConfigError,
    add_destination,
    format_destinations,
    load_config,
    remove_destination,
    resolve_destination,
    resolve_worklist,
    save_config,
)
from napari_ezp2p.core.errors import Ezp2pError
from napari_ezp2p.net.destination import Destination, TlsSettings


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
