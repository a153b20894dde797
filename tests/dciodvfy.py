"""dciodvfy's findings on one object: its error lines and its lossy-method warnings."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.peers import require_tool

#: dciodvfy's warning for a Lossy Image Compression Method the transfer syntax contradicts.
LOSSY_METHOD_WARNING = "method inconsistent with Transfer Syntax"


def dciodvfy_findings(path: str | Path) -> list[str]:
    """The lines of dciodvfy's report on ``path`` that are errors or lossy-method warnings."""
    result = subprocess.run([require_tool("dciodvfy"), str(path)], capture_output=True, text=True)
    lines = (result.stdout + result.stderr).splitlines()
    return [line for line in lines if line.startswith("Error") or LOSSY_METHOD_WARNING in line]
