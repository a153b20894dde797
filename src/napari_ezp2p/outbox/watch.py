"""Whether the outbox changed, asked without writing to it (for a view that polls).

Opening an :class:`~.queue.Outbox` writes (its schema, its writer registration), so a
view that polled by opening it would see its own writes as changes. :func:`fingerprint`
reads the database read-only instead: any row added, changed (every change sets
``updated``) or removed changes it.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from .database import DATABASE_NAME

Fingerprint = tuple[int, float, float]


def fingerprint(folder: str | Path) -> Fingerprint | None:
    """``(rows, latest change, sum of changes)`` of the outbox in ``folder``; None when
    it has no database yet (or it cannot be read now: ask again later)."""
    path = Path(folder) / DATABASE_NAME
    if not path.exists():
        return None
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=1)) as db:
            row = db.execute(
                "SELECT COUNT(*), COALESCE(MAX(updated), 0), COALESCE(SUM(updated), 0) "
                "FROM entries"
            ).fetchone()
    except sqlite3.Error:
        return None
    return int(row[0]), float(row[1]), float(row[2])
