"""The user's config: where it is, the environment's overrides, the outbox folder."""

from __future__ import annotations

import sys

import pytest

from napari_ezp2p.config import (
    Config,
    ConfigError,
    apply_env,
    config_path,
    load_user_config,
    outbox_folder,
)
from napari_ezp2p.outbox import default_outbox_folder
from tests.config.examples import EXAMPLE, write_config


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


def test_env_overrides_the_local_ae_title(tmp_path):
    config = Config()
    assert apply_env(config, {}) == config
    assert apply_env(config, {"EZP2P_AET": "  SCANNER1 "}).network.ae_title == "SCANNER1"
    with pytest.raises(ConfigError, match="EZP2P_AET"):
        apply_env(config, {"EZP2P_AET": "X" * 17})
    path = write_config(tmp_path, EXAMPLE)
    env = {"EZP2P_CONFIG": str(path), "EZP2P_AET": "FROMENV"}
    loaded = load_user_config(None, env)
    assert loaded.network.ae_title == "FROMENV"
    assert loaded.default_destination == "pacs"


def test_outbox_folder_explicit_then_env_then_config_then_default(tmp_path):
    configured = Config(outbox=tmp_path / "configured")
    env = {"EZP2P_OUTBOX": str(tmp_path / "env")}
    assert outbox_folder(configured, tmp_path / "cli", env) == tmp_path / "cli"
    assert outbox_folder(configured, str(tmp_path / "cli"), env) == tmp_path / "cli"
    assert outbox_folder(configured, None, env) == tmp_path / "env"
    assert outbox_folder(configured, None, {}) == tmp_path / "configured"
    assert outbox_folder(Config(), None, {}) == default_outbox_folder()
    # Empty values are unset, as an empty --outbox or EZP2P_OUTBOX= is.
    assert outbox_folder(configured, "", {"EZP2P_OUTBOX": ""}) == tmp_path / "configured"


def test_outbox_folder_reads_the_process_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("EZP2P_OUTBOX", str(tmp_path / "env"))
    assert outbox_folder(Config(outbox=tmp_path / "configured")) == tmp_path / "env"
    monkeypatch.delenv("EZP2P_OUTBOX")
    assert outbox_folder(Config(outbox=tmp_path / "configured")) == tmp_path / "configured"
