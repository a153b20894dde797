"""The log of ``ezp2p serve`` on stderr: no patient data at the default level, and no
line longer than :data:`MAX_LINE` characters at any level."""

from __future__ import annotations

import logging

MAX_LINE = 500


class BoundedFormatter(logging.Formatter):
    """Each line of a record cut at MAX_LINE characters (a 1 MB key stays one short line)."""

    def format(self, record: logging.LogRecord) -> str:
        lines = super().format(record).splitlines()
        return "\n".join(
            line if len(line) <= MAX_LINE else f"{line[: MAX_LINE - 1]}…" for line in lines
        )


def serve_logging(debug: bool) -> None:
    """INFO, or DEBUG with ``debug``, on stderr, through BoundedFormatter.

    pynetdicom logs every query identifier at INFO and pydicom warns with each value it
    cannot read: patient names and IDs. They are heard only with ``debug``.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(BoundedFormatter("%(asctime)s %(message)s"))
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, handlers=[handler])
    logging.captureWarnings(True)
    if debug:
        logging.getLogger("pynetdicom").setLevel(logging.INFO)  # its DEBUG dumps every PDU
        return
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    for name in ("pydicom", "py.warnings"):
        logging.getLogger(name).setLevel(logging.ERROR)
