"""What a job run off the event loop gives back: its value, or the error it failed with.

A worker thread returns an :class:`Outcome` instead of raising, so that an expected
failure (an :class:`~napari_ezp2p.core.errors.Ezp2pError`: a busy scanner, a refused
association) reaches the face that started the job as a value it can show. Anything
else is a bug and still raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.errors import Ezp2pError


@dataclass(frozen=True)
class Outcome:
    """A job's ``value``, or the ``error`` it failed with (then ``value`` is None)."""

    value: Any = None
    error: Ezp2pError | None = None

    @property
    def message(self) -> str:
        """The error's message, empty when the job succeeded."""
        return "" if self.error is None else str(self.error)


def attempt(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    """``func(*args, **kwargs)`` as an Outcome; our own errors become its ``error``."""
    try:
        return Outcome(func(*args, **kwargs))
    except Ezp2pError as error:
        return Outcome(error=error)
