"""Copying the rest of one open file into another inside the kernel.

``os.copy_file_range`` moves the bytes without reading them into Python, and on a
filesystem that can share extents (Btrfs, XFS with reflink) it clones them instead of
copying: the copy costs no data write. Where it is missing or refused (another
filesystem, an old kernel, Windows, macOS) the bytes go through a buffer as before.
"""

from __future__ import annotations

import errno
import os
import shutil
from typing import BinaryIO

_BUFFER = 1 << 20
#: A whole file at a time where the system takes it (under 2 GiB: what Linux moves at once).
_CHUNK = 1 << 30
#: What says the kernel cannot copy between these two files: copy them in user space.
_UNSUPPORTED = {
    errno.EXDEV,
    errno.ENOSYS,
    errno.EOPNOTSUPP,
    errno.EINVAL,
    errno.EBADF,
    errno.EPERM,
}


def copy_rest(source: BinaryIO, out: BinaryIO) -> None:
    """Write everything of ``source`` from its position on at ``out``'s position, and
    leave both positioned after it."""
    out.flush()
    start, at = source.tell(), out.tell()
    copied = _in_kernel(source.fileno(), out.fileno(), start, at)
    source.seek(start + copied)
    out.seek(at + copied)
    shutil.copyfileobj(source, out, _BUFFER)  # what the kernel did not copy, if anything


def _in_kernel(source: int, out: int, start: int, at: int) -> int:
    """How many bytes ``os.copy_file_range`` copied from ``start`` on (0 where it cannot)."""
    if not hasattr(os, "copy_file_range"):
        return 0
    copied = 0
    try:
        while moved := os.copy_file_range(source, out, _CHUNK, start + copied, at + copied):
            copied += moved
    except OSError as error:
        if error.errno not in _UNSUPPORTED:
            raise
    return copied
