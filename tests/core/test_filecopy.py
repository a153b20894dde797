"""Copying the rest of a file inside the kernel, and through a buffer where it cannot."""

from __future__ import annotations

import errno
import os

import pytest

from napari_ezp2p.core.filecopy import copy_rest

DATA = bytes(range(256)) * 5000  # 1.28 MB


def _copy(tmp_path, header: bytes = b"HEAD", skip: int = 100) -> bytes:
    (tmp_path / "in").write_bytes(DATA)
    with (tmp_path / "in").open("rb") as source, (tmp_path / "out").open("wb") as out:
        out.write(header)
        source.seek(skip)
        copy_rest(source, out)
        assert (source.tell(), out.tell()) == (len(DATA), len(header) + len(DATA) - skip)
        out.write(b"TAIL")  # after what was copied
    return (tmp_path / "out").read_bytes()


def test_the_rest_of_a_file_goes_after_what_was_written(tmp_path, monkeypatch):
    calls = []
    copy_file_range = os.copy_file_range

    def counted(*args):
        calls.append(args)
        return copy_file_range(*args)

    monkeypatch.setattr(os, "copy_file_range", counted)
    assert _copy(tmp_path) == b"HEAD" + DATA[100:] + b"TAIL"
    assert calls, "the kernel did not copy it"


@pytest.mark.parametrize("after", [0, 1])
def test_where_the_kernel_cannot_copy_the_bytes_go_through_a_buffer(tmp_path, monkeypatch, after):
    """Refused at once (another filesystem), or after a first part was copied."""
    copy_file_range = os.copy_file_range
    calls = []

    def refused(source, out, count, offset_src, offset_dst):
        calls.append(offset_src)
        if len(calls) > after:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return copy_file_range(source, out, 1000, offset_src, offset_dst)

    monkeypatch.setattr(os, "copy_file_range", refused)
    assert _copy(tmp_path) == b"HEAD" + DATA[100:] + b"TAIL"


def test_without_copy_file_range_the_bytes_go_through_a_buffer(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "copy_file_range", raising=False)
    assert _copy(tmp_path, b"", 0) == DATA + b"TAIL"


def test_a_real_write_error_is_not_hidden(tmp_path, monkeypatch):
    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "copy_file_range", full)
    with pytest.raises(OSError, match="No space"):
        _copy(tmp_path)
