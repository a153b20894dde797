"""The videos the capture tests read (made once per test module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.capture.videos import make_videos


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    return make_videos(tmp_path_factory.mktemp("videos"))
