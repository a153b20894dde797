"""Writing the settings file: atomically, and only what reads back the same."""

from __future__ import annotations

import os
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from napari_ezp2p.config import (
    Config,
    ConfigError,
    add_destination,
    dumps_config,
    load_config,
    save_config,
)
from napari_ezp2p.net.destination import NetworkSettings
from tests.config.examples import EXAMPLE, write_config


def test_save_and_load_round_trip(tmp_path):
    config = load_config(write_config(tmp_path, EXAMPLE))
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
    assert load_config(write_config(tmp_path, text)) == Config()


def test_a_destinations_kind_survives_a_round_trip(tmp_path, monkeypatch):
    from napari_ezp2p.net import transports

    monkeypatch.setitem(transports.TRANSPORTS, "other", lambda settings: None)
    config = add_destination(Config(), "plain", "A@h:104")
    other = replace(config.destinations["plain"], name="other", kind="other")
    config = replace(config, destinations={**config.destinations, "other": other})
    path = save_config(config, tmp_path / "config.toml")
    text = path.read_text()
    assert text.count("kind = ") == 1 and 'kind = "other"' in text  # dimse is the default
    kinds = {name: d.kind for name, d in load_config(path).destinations.items()}
    assert kinds == {"plain": "dimse", "other": "other"}
