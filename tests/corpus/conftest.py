"""storescp for the corpus: every storage class in every syntax, bit-preserving."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from napari_ezp2p.net.destination import Destination
from tests.conftest import Peer, StoreScp, free_port
from tests.peers import require_tool


@pytest.fixture
def corpus_storescp(tmp_path: Path) -> Iterator[StoreScp]:
    """storescp ``+xa -pm +B +uf``: every storage class (unknown ones too) in every syntax
    dcmtk supports, each data set written exactly as it arrived, one file per object
    received (a second object under one UID does not overwrite the first)."""
    port = free_port()
    folder = tmp_path / "storescp"
    received = folder / "received"
    received.mkdir(parents=True)
    args = [require_tool("storescp"), "--aetitle", "STORESCP", "+xa", "-pm", "+B", "+uf"]
    args += ["--output-directory", str(received), "--disable-host-lookup", str(port)]
    peer = Peer("storescp", args, folder)
    destination = Destination("storescp", "STORESCP", "127.0.0.1", port)
    peer.wait_ready(port, "STORESCP")
    yield StoreScp("STORESCP", port, received, destination, peer)
    peer.stop()
