"""The outbox database's files on disk: for this user alone, and what a failing disk does."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from napari_ezp2p.outbox import Outbox, OutboxError
from napari_ezp2p.outbox.database import DATABASE_NAME, DatabaseWriteError
from tests.mounts import fill, remount, tmpfs
from tests.outbox.test_queue import PACS, make_datasets

FILES = (DATABASE_NAME, f"{DATABASE_NAME}-wal", f"{DATABASE_NAME}-shm")


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    """The usual umask, under which SQLite made the database readable by everyone."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_the_database_and_its_wal_and_shm_files_are_for_this_user_alone(tmp_path, open_umask):
    with Outbox(tmp_path) as outbox:
        outbox.add(make_datasets(2, patient="DOE^JANE"), [PACS])
        assert {name: _mode(tmp_path / name) for name in FILES} == dict.fromkeys(FILES, 0o600)
        assert _mode(outbox.list()[0].path) == 0o600


def test_a_database_made_readable_by_everyone_is_made_private_when_opened(tmp_path, open_umask):
    with Outbox(tmp_path) as outbox:
        outbox.add(make_datasets(1), [PACS])
        for name in FILES:
            (tmp_path / name).chmod(0o644)  # as an older version left them
    with Outbox(tmp_path):
        assert {name: _mode(tmp_path / name) for name in FILES} == dict.fromkeys(FILES, 0o600)


def test_a_full_disk_is_an_outbox_error_and_commits_nothing(tmp_path):
    with tmpfs(tmp_path / "disk") as disk, Outbox(disk / "outbox") as outbox:
        written = [outbox.write(ds) for ds in make_datasets(3)]
        ballast = fill(disk)
        with pytest.raises(DatabaseWriteError, match="database or disk is full") as caught:
            outbox.insert(written, [PACS])
        assert isinstance(caught.value, OutboxError)  # a message, not a traceback
        assert isinstance(caught.value, sqlite3.OperationalError)  # as it was
        ballast.unlink()
        assert outbox.list() == []
        assert len(outbox.insert(written, [PACS])) == 3  # space again: it goes on


def test_an_outbox_on_a_read_only_disk_is_one_clear_error(tmp_path):
    with tmpfs(tmp_path / "disk") as disk:
        Outbox(disk / "outbox").close()
        remount(disk, "ro")
        try:
            for folder in (disk / "outbox", disk / "new"):
                with pytest.raises(OutboxError) as caught:
                    Outbox(folder)
                assert str(caught.value) == (
                    f"cannot open the outbox in {folder}: Read-only file system"
                )
        finally:
            remount(disk, "rw")
