"""The process one scan session runs in (started by
:mod:`~napari_ezp2p.capture.scanning`, never imported for its own sake).

libsane reads each image in a reader thread that it kills with ``pthread_cancel``
(asynchronous cancellation) when the scan is cancelled, closed or started again, or (the
test backend) at the end of the read; killed inside ``malloc``/``free`` it leaves the
allocator's lock held and the next allocation waits forever. Scanning in a child process
keeps that from ever holding the caller: the parent kills a child that hangs.

The conversation over ``conn`` (messages are tuples, their kind first):

- child: ``("ready", spacing)`` once the device is open and set up; then, for each page,
  it waits for the parent's ``("go",)`` (anything else, or the parent gone, ends the
  session), sends ``("line", line, lines)`` after each line read and the page as
  ``("page", data, width, height, samples, sample_size)`` (python-sane's own tuple);
- the child ends with ``("feeder_empty",)``, ``("cancelled",)`` or ``("error", text)``
  (a ScannerError's text), or without a word after the last page asked for;
- parent: ``("cancel",)`` at any time; the child's line callback sees it and cancels
  the scan (``sane_cancel``).
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import suppress
from multiprocessing.connection import Connection

from .scanner import ScannerError, ScanSettings, opened, sane_session, set_up

#: Test seam: this environment variable set to "after-page" makes the child block for
#: ever after sending each page, as a child stuck in libsane's cleanup does; set to
#: "after-last-line", once it has told the last line, as one stuck in the read's end.
HANG = "EZP2P_SCAN_TEST_HANG"

#: How long the child waits after the last line before python-sane's final read, which
#: makes the backend cancel its reader thread: long enough for that thread to leave the
#: ``free()`` after its last write, where a cancel deadlocks libsane (module text).
READER_SETTLE_S = 0.05

#: What python-sane's error says when the feeder has no more pages (SANE_STATUS_NO_DOCS);
#: python-sane's own ``multi_scan`` ends on the same text.
_FEEDER_EMPTY = "Document feeder out of documents"


class _Cancelled(Exception):
    """The parent asked for a cancel, or is gone."""


class _FeederEmpty(Exception):
    """The document feeder has no (more) pages."""


def run(
    conn: Connection, device: str, settings: ScanSettings, pages: int | None, feeder: bool
) -> None:
    """One scan session: at most ``pages`` pages (None: until the feeder is empty)."""
    with suppress(OSError):  # the parent is gone: nobody to tell
        try:
            _session(conn, device, settings, pages, feeder)
        except _FeederEmpty:
            conn.send(("feeder_empty",))
        except _Cancelled:
            conn.send(("cancelled",))
        except ScannerError as exc:
            conn.send(("error", str(exc)))
        except Exception as exc:  # noqa: BLE001 - a broken libsane: the parent says it
            conn.send(("error", f"scanner {device} failed: {exc!r}"))


def _session(
    conn: Connection, device: str, settings: ScanSettings, pages: int | None, feeder: bool
) -> None:
    with sane_session() as sane, opened(sane, device) as dev:
        conn.send(("ready", set_up(dev, device, settings, feeder)))
        count = 0
        while pages is None or count < pages:
            if _told(conn) != ("go",):
                return
            conn.send(("page", *_read(conn, dev, device)))
            count += 1
            _hang_if_asked("after-page")


def _hang_if_asked(where: str) -> None:
    if os.environ.get(HANG) == where:
        threading.Event().wait()


def _told(conn: Connection) -> tuple:
    try:
        return conn.recv()
    except EOFError:
        return ("stop",)


def _read(conn: Connection, dev, device: str) -> tuple:
    try:
        dev.start()
    except Exception as exc:  # _sane.error: busy, jammed, no documents, cover open...
        if str(exc) == _FEEDER_EMPTY:
            raise _FeederEmpty from exc
        raise ScannerError(f"scanner {device} cannot start the scan: {exc}") from exc
    lines = _LineWatch(conn, dev)
    try:
        # python-sane's own read without the sane_cancel that arr_snap does after it:
        # that cancel is what can leave libsane deadlocked (module text).
        data, width, height, samples, sample_size = dev.dev.snap(True, True, lines.on_line)
    except Exception as exc:  # _sane.error
        if lines.cancelled:
            raise _Cancelled from exc
        raise ScannerError(f"scanner {device} failed while scanning: {exc}") from exc
    if lines.cancelled:
        raise _Cancelled
    if not data:
        raise ScannerError(f"scanner {device} failed while scanning: Scanner returned no data")
    if sample_size not in (1, 2):
        raise ScannerError(f"scanner {device} returned samples of {sample_size} bytes")
    return bytes(data), width, height, samples, sample_size


class _LineWatch:
    """python-sane's line callback: tells the parent, cancels when it asks to."""

    def __init__(self, conn: Connection, dev) -> None:
        self.conn = conn
        self.dev = dev
        self.cancelled = False

    def on_line(self, line: int, lines: int) -> None:
        # An exception escaping here crashes python-sane 2.9.2.
        if self.cancelled:
            return
        try:
            if self.conn.poll():
                self.cancelled = True  # the parent sends nothing but a cancel meanwhile
            else:
                self.conn.send(("line", line, lines))
                if line >= lines:
                    _hang_if_asked("after-last-line")
                    time.sleep(READER_SETTLE_S)
        except BaseException:  # noqa: BLE001 - the parent is gone: stop
            self.cancelled = True
        if self.cancelled:
            with suppress(Exception):
                self.dev.cancel()
