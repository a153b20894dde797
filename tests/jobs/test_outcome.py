"""Outcome and attempt: a job's value, or the error it failed with, never raised."""

from __future__ import annotations

import pytest

from napari_ezp2p.core.errors import Ezp2pError
from napari_ezp2p.jobs.outcome import Outcome, attempt


def test_a_value_is_the_outcomes_value():
    outcome = attempt(lambda a, b: a + b, 2, b=3)
    assert outcome == Outcome(5) and outcome.error is None and outcome.message == ""


def test_our_own_errors_become_the_outcomes_error():
    error = Ezp2pError("scanner test:0 is busy")

    def busy():
        raise error

    outcome = attempt(busy)
    assert outcome.value is None and outcome.error is error
    assert outcome.message == "scanner test:0 is busy"


def test_anything_else_is_a_bug_and_raises():
    with pytest.raises(ZeroDivisionError):
        attempt(lambda: 1 / 0)
