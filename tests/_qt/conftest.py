"""Fixtures of the dock tests."""

import pytest

from napari_ezp2p.config import Config, add_destination, save_config


@pytest.fixture
def settings(tmp_path, monkeypatch):
    """``configure(name, address)``: a config whose default destination is that one."""
    outbox = tmp_path / "outbox"
    monkeypatch.setenv("EZP2P_OUTBOX", str(outbox))
    monkeypatch.delenv("EZP2P_AET", raising=False)

    def configure(name: str, address: str):
        path = tmp_path / "config.toml"
        save_config(add_destination(Config(), name, address, default=True), path)
        monkeypatch.setenv("EZP2P_CONFIG", str(path))
        return outbox

    return configure
