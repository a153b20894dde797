"""Docks follow the config file when another process changes it (``ezp2p
destinations add`` in a terminal): each of ours that shows destinations reads the file
again into the session when it changes, and the session's events tell every dock."""

from __future__ import annotations

from qtpy.QtCore import QFileSystemWatcher
from qtpy.QtWidgets import QWidget

from .._napari.destination_choice import read_config
from .._napari.session import Session
from ..config import config_path


def follow_config_file(owner: QWidget, session: Session) -> None:
    """While ``owner`` lives, read the config file into ``session`` each time it, or
    the folder holding it (the file is replaced when saved), changes."""
    watcher = QFileSystemWatcher(owner)

    def watch() -> None:
        path = config_path()
        wanted = [str(p) for p in (path, path.parent) if p.exists()]
        known = watcher.files() + watcher.directories()
        missing = [p for p in wanted if p not in known]
        if missing:
            watcher.addPaths(missing)

    def changed(_path: str) -> None:
        read_config(session)
        watch()  # a file replaced is no longer watched

    watcher.fileChanged.connect(changed)
    watcher.directoryChanged.connect(changed)
    watch()
