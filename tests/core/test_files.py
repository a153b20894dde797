"""atomic_file: temporary names that fit, and write errors that name the file."""

from __future__ import annotations

import errno
import os

import pytest

from napari_ezp2p.core.errors import Ezp2pError, FileWriteError
from napari_ezp2p.core.files import atomic_file


def test_the_temporary_name_of_the_longest_name_fits(tmp_path):
    path = tmp_path / ("é" * 127 + "a")  # 255 bytes in UTF-8
    with atomic_file(path) as stream:
        stream.write(b"data")
        (temporary,) = [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
        assert len(os.fsencode(temporary.name)) <= 255
        assert temporary.name.startswith(".éé")
    assert path.read_bytes() == b"data"
    assert list(tmp_path.iterdir()) == [path]


def test_a_write_error_names_the_file_and_leaves_nothing(tmp_path):
    path = tmp_path / ("a" * 256)  # one byte too long
    with pytest.raises(FileWriteError) as caught, atomic_file(path) as stream:
        stream.write(b"data")
    assert str(caught.value) == f"cannot write {path}: File name too long"
    assert isinstance(caught.value, Ezp2pError) and isinstance(caught.value, OSError)
    assert caught.value.errno == errno.ENAMETOOLONG
    assert list(tmp_path.iterdir()) == []
