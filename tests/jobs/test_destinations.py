"""The Destinations dock's model: a destination's form, the config with it, C-ECHO."""

from __future__ import annotations

import pytest

from napari_ezp2p.config import Config, add_destination
from napari_ezp2p.core.errors import Ezp2pError
from napari_ezp2p.jobs.destinations import (
    DestinationForm,
    describe_echo,
    destination_of,
    echo_form,
    form_of,
    roles,
    still_sendable,
    with_ae_title,
    with_destination,
)
from napari_ezp2p.net.association import EchoResult
from napari_ezp2p.net.destination import TlsSettings
from tests.conftest import OUR_AE, free_port


def test_the_form_decides_the_default_and_the_worklist_server():
    form = DestinationForm("pacs", "PACS", "::1", 104, default=True, worklist=True)
    config = with_destination(Config(), form)
    assert config.destinations["pacs"].host == "::1"  # an IPv6 host is bracketed, then read
    assert config.default_destination == config.default_worklist == "pacs"
    config = with_destination(config, DestinationForm("pacs", "PACS", "::1", 104))
    assert config.default_destination == config.default_worklist == ""


def test_a_saved_form_reads_back_the_same(tmp_path):
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("")
    form = DestinationForm(
        "pacs",
        "PACS",
        "pacs.example.org",
        11112,
        transfer_syntax="jpeg-ls",
        max_pdu=32768,
        associations=3,
        tls=True,
        ca_file=str(ca_file),
        default=True,
    )
    config = with_destination(Config(), form)
    assert form_of(config, "pacs") == form
    assert config.destinations["pacs"].tls == TlsSettings(str(ca_file), "", "", True)
    assert roles(config, "pacs") == ["default", "TLS"]


def test_an_unsaved_form_is_checked_as_saving_would():
    dest = destination_of(DestinationForm("", "PACS", "127.0.0.1", 104))
    assert (dest.name, dest.address) == ("unsaved", "PACS@127.0.0.1:104")
    with pytest.raises(Ezp2pError):
        destination_of(DestinationForm("bad", "", "127.0.0.1", 104))


def test_our_ae_title_is_checked():
    assert with_ae_title(Config(), " EZP2P_WS ").network.ae_title == "EZP2P_WS"
    with pytest.raises(Ezp2pError):
        with_ae_title(Config(), "BACK\\SLASH")


def test_only_configured_names_and_addresses_stay_sendable():
    config = add_destination(Config(), "pacs", "PACS@127.0.0.1:104")
    chosen = ("pacs", "gone", "OTHER@10.0.0.1:104")
    assert still_sendable(chosen, config) == ("pacs", "OTHER@10.0.0.1:104")


def test_echo_says_success_or_why_not(tmp_path, monkeypatch, orthanc):
    monkeypatch.setenv("EZP2P_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("EZP2P_AET", OUR_AE)
    pacs = orthanc()
    live = DestinationForm("orthanc", "ORTHANC", "127.0.0.1", pacs.destination.port)
    assert describe_echo(echo_form(live)).startswith("success, ")
    dead = echo_form(DestinationForm("dead", "NOBODY", "127.0.0.1", free_port()))
    assert not dead.ok and describe_echo(dead) == dead.error
    assert "refused" in dead.error.lower()
    assert describe_echo(EchoResult(ok=False, status=None, seconds=0.0)) == "failed"
