"""When an outbox row that failed is due again: the backoff schedule."""

from __future__ import annotations

import random

#: First retry delay, and the longest one, in seconds.
BACKOFF_BASE = 30.0
BACKOFF_CAP = 3600.0


def backoff_delay(
    attempts: int,
    *,
    base: float = BACKOFF_BASE,
    cap: float = BACKOFF_CAP,
    jitter: float = 0.0,
) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt.

    30 s, 1 min, 2 min, 4 min, 8 min, 16 min, 32 min, then 1 h for good. ``jitter``
    (0-1) takes off up to that fraction at random, so that clients spread out.
    """
    exponent = min(max(attempts, 1) - 1, 32)
    delay = min(base * 2**exponent, cap)
    if jitter:
        delay -= delay * min(jitter, 1.0) * random.random()
    return delay
