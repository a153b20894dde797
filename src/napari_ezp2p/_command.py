"""The ``ezp2p`` console script: trims start-up, then runs :func:`napari_ezp2p.cli.main`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

#: What ``pydicom.data`` imports, if installed, to download pydicom's test files (which
#: the command never does): about 0.2 s of every start, a quarter of it.
DOWNLOAD_MODULES = ("requests", "tqdm")


@contextmanager
def imports_hidden(names: tuple[str, ...]) -> Iterator[None]:
    """Within the block, ``import NAME`` raises ImportError for the modules not imported
    yet; afterwards they import normally again."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # how the import system blocks
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def main() -> int:
    with imports_hidden(DOWNLOAD_MODULES):
        import pydicom  # noqa: F401 - pydicom.data then falls back to urllib, unused here

    from .cli import main as run

    return run()
