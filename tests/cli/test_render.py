"""The command's progress bars."""

from __future__ import annotations

import io
import re
import sys

import numpy as np
from PIL import Image

from napari_ezp2p.cli import main


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_sending_one_big_image_shows_a_bar_of_its_bytes(tmp_path, storescp, monkeypatch):
    big = tmp_path / "big.tif"
    rng = np.random.default_rng(12)
    Image.fromarray(rng.integers(0, 65535, (2048, 2048), dtype=np.uint16)).save(big)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    home = ["--config", str(tmp_path / "config.toml"), "--outbox", str(tmp_path / "outbox")]
    to = storescp.destination.address
    assert main([*home, "send", str(big), "--to", to, "--ts", "explicit-le"]) == 0
    shown = terminal.getvalue()
    # 2048 x 2048 x 2 bytes of pixels and the header: 8.00 MiB, counted up to the total
    name = re.escape(f"{big} to {to}")
    assert re.search(name + r":\s+0%.*\| 0\.00/8\.0\dM \[.*B/s\]", shown), shown
    assert re.search(name + r": 100%.*\| (8\.0\dM)/\1 \[.*B/s\]", shown), shown
