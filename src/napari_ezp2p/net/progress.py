"""Progress within one object: its frames encoded, then its bytes sent to each destination."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

ENCODING = "encoding"
SENDING = "sending"

#: Reports come no oftener than this many bytes and seconds apart (the last always comes).
EVERY_BYTES = 64 * 1024
EVERY_SECONDS = 0.05


@dataclass(frozen=True)
class ObjectProgress:
    """``done`` of ``total`` ``unit`` ("frame" or "B") of one object, named ``label``:
    its frames encoded (stage "encoding", once for every destination: ``destination``
    is "") or its data set's bytes sent to ``destination`` (stage "sending")."""

    stage: str
    done: int
    total: int
    unit: str
    label: str
    destination: str = ""


class Throttle:
    """Calls ``report(done, total)`` for the byte counts it is given, at most once per
    ``EVERY_BYTES`` and ``EVERY_SECONDS``, and always for the first and the last."""

    def __init__(self, report: Callable[[int, int], None]) -> None:
        self.report = report
        self.last: tuple[int, float] | None = None  # (done, when) of the last report

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        last = self.last
        if (
            last is None
            or done >= total
            or (done - last[0] >= EVERY_BYTES and now - last[1] >= EVERY_SECONDS)
        ):
            self.last = (done, now)
            self.report(done, total)


#: ``on_progress(event)``, from worker threads.
OnProgress = Callable[[ObjectProgress], None]
