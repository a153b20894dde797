"""The fixture that starts local PACS servers for a test."""

from __future__ import annotations

import pytest

from napari_ezp2p.devpacs.server import run_server


@pytest.fixture
def start(tmp_path):
    """Start servers (non-blocking, a free port unless given); all are stopped after the test."""
    servers = []

    def _start(storage=None, port=0, **kwargs):
        server = run_server(storage or tmp_path / "storage", port, block=False, **kwargs)
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.shutdown()
