"""TLS associations against storescp ``+tls`` (certificates made here with trustme)."""

from __future__ import annotations

import dataclasses
import re

import pydicom
import pytest
import trustme

from napari_ezp2p.net.association import echo
from napari_ezp2p.net.destination import TlsSettings
from napari_ezp2p.net.store import store
from tests.conftest import start_storescp
from tests.net.helpers import SETTINGS, sc_objects


@pytest.fixture
def tls_storescp(tmp_path):
    """storescp over TLS requiring a client certificate from our CA, and our client side."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("ezp2p-client")
    files = {}
    for name, blob in {
        "ca": ca.cert_pem,
        "server-key": server.private_key_pem,
        "server-cert": server.cert_chain_pems[0],
        "client-key": client.private_key_pem,
        "client-cert": client.cert_chain_pems[0],
    }.items():
        files[name] = str(tmp_path / f"{name}.pem")
        blob.write_to_path(files[name])
    server_tls = TlsSettings(files["ca"], files["server-cert"], files["server-key"])
    scp = start_storescp(tmp_path / "storescp", tls=server_tls)
    ours = TlsSettings(files["ca"], files["client-cert"], files["client-key"])
    yield dataclasses.replace(scp.destination, tls=ours), scp, tmp_path
    scp.peer.stop()


def test_echo_and_store_over_tls(tls_storescp):
    dest, scp, _ = tls_storescp
    result = echo(dest, SETTINGS)
    assert result.ok, result.error
    objects = sc_objects(2, "jpeg-ls")
    report = store(objects, dest, SETTINGS)
    assert report.ok, report.error
    received = {pydicom.dcmread(p).SOPInstanceUID for p in scp.received()}
    assert received == {o.SOPInstanceUID for o in objects}


def test_wrong_ca_is_a_certificate_error(tls_storescp):
    dest, _, tmp_path = tls_storescp
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    wrong = dataclasses.replace(dest, tls=dataclasses.replace(dest.tls, ca_file=str(other)))
    result = echo(wrong, SETTINGS)
    assert not result.ok
    assert "TLS certificate verification failed" in result.error
    assert re.search(
        "self-signed certificate in certificate chain|unable to get local issuer", result.error
    )
    report = store(sc_objects(1), wrong, SETTINGS)
    assert [o.category for o in report.outcomes] == ["not sent"]
    assert "TLS certificate verification failed" in report.error


def test_unverified_tls_still_connects(tls_storescp):
    dest, _, tmp_path = tls_storescp
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    tls = dataclasses.replace(dest.tls, ca_file=str(other), verify=False)
    assert echo(dataclasses.replace(dest, tls=tls), SETTINGS).ok


def test_missing_ca_file_is_a_clear_error(tls_storescp, tmp_path):
    dest, _, _ = tls_storescp
    tls = dataclasses.replace(dest.tls, ca_file=str(tmp_path / "missing.pem"))
    result = echo(dataclasses.replace(dest, tls=tls), SETTINGS)
    assert not result.ok
    assert "cannot load the CA bundle" in result.error
