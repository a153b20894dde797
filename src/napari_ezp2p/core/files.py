"""Files that appear whole or not at all, and telling DICOM files by their first bytes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from pydicom.misc import is_dicom

from .errors import FileWriteError

#: What ``tempfile.mkstemp`` adds to a temporary file's prefix: 8 random characters,
#: then the ``.part`` suffix.
_TEMPORARY_TAIL = len("12345678.part")
_NAME_MAX = 255  # where the system cannot say (Windows)


@contextmanager
def atomic_file(path: Path, mode: str = "wb", **open_args) -> Iterator[IO]:
    """Write through a temporary file beside ``path`` that replaces it, flushed to disk,
    only when the block ends without an error; otherwise nothing changes.

    The temporary file is named ``.NAME.*.part`` (NAME shortened to fit the folder's
    longest name) so that a crash leaves an orphan that is easy to recognise and clean.
    An OSError on the way is a FileWriteError naming ``path``.
    """
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=_temporary_prefix(path), suffix=".part"
        )
        with os.fdopen(fd, mode, **open_args) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as error:
        _discard(temporary)
        if isinstance(error, FileWriteError):
            raise
        cause = _system_error(error)
        raise FileWriteError(cause.errno, cause.strerror or str(cause), str(path)) from error
    except BaseException:
        _discard(temporary)
        raise


def _discard(temporary: str | None) -> None:
    if temporary is not None:
        with suppress(OSError):
            Path(temporary).unlink()


def _system_error(error: OSError) -> OSError:
    """The error in the system's words: pydicom raises another, its message a traceback,
    from it."""
    while error.strerror is None and isinstance(error.__cause__, OSError):
        error = error.__cause__
    return error


def _temporary_prefix(path: Path) -> str:
    """``.NAME.``, NAME cut so that the whole temporary name fits in the folder."""
    return f".{cut_to_fit(path.name, longest_name(path.parent) - _TEMPORARY_TAIL - 2)}."


def longest_name(folder: Path) -> int:
    """The longest file name, in bytes, that ``folder`` takes."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):  # no pathconf, or no folder yet
        return _NAME_MAX


def cut_to_fit(name: str, limit: int) -> str:
    """``name`` without as many last characters as it takes to be ``limit`` bytes or fewer
    as a file name (unchanged when it fits)."""
    while len(os.fsencode(name)) > limit:
        name = name[:-1]
    return name


def is_dicom_file(path: Path) -> bool:
    """A Part 10 file: a 128-byte preamble then ``DICM`` (a folder or unreadable file
    is not)."""
    try:
        return path.is_file() and is_dicom(path)
    except OSError:
        return False
