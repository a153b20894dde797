"""Files that appear whole or not at all, and telling DICOM files by their first bytes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from pydicom.misc import is_dicom


@contextmanager
def atomic_file(path: Path, mode: str = "wb", **open_args) -> Iterator[IO]:
    """Write through a temporary file beside ``path`` that replaces it, flushed to disk,
    only when the block ends without an error; otherwise nothing changes.

    The temporary file is named ``.NAME.*.part`` so that a crash leaves an orphan that
    is easy to recognise and clean.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, mode, **open_args) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def is_dicom_file(path: Path) -> bool:
    """A Part 10 file: a 128-byte preamble then ``DICM`` (a folder or unreadable file
    is not)."""
    try:
        return path.is_file() and is_dicom(path)
    except OSError:
        return False
