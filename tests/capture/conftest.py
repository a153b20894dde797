"""The SANE ``test`` backend as a real scanner for the capture tests.

Debian's ``/etc/sane.d/dll.conf`` has the ``test`` backend commented out, so the
fixture writes its own SANE configuration folder (``dll.conf`` saying ``test`` and a copy
of ``test.conf``) and points ``SANE_CONFIG_DIR`` at it.

libsane reads ``SANE_CONFIG_DIR`` once per process, at the first ``sane_init`` (later
``sane_exit``/``sane_init`` pairs keep the folder found then), so the fixture is
session-scoped and must run before anything else in the test process initialises SANE;
it fails, naming that cause, when ``test:0`` is not listed. A missing SANE or
python-sane fails the tests: the real scanner backend is the point, never skipped.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

SANE_TEST_CONF = Path("/etc/sane.d/test.conf")
TEST_DEVICE = "test:0"


@pytest.fixture(scope="session")
def sane_test_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``SANE_CONFIG_DIR`` set to a folder that enables only SANE's test backend.

    Yields the name of the first test device, ``test:0``.
    """
    try:
        import sane  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"python-sane is not installed (pip install python-sane): {exc}")
    if not SANE_TEST_CONF.exists():
        pytest.fail(f"{SANE_TEST_CONF} is missing: install Debian's sane-utils (libsane1)")
    folder = tmp_path_factory.mktemp("sane.d")
    (folder / "dll.conf").write_text("test\n")
    shutil.copy(SANE_TEST_CONF, folder / "test.conf")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SANE_CONFIG_DIR", str(folder))
        from napari_ezp2p.capture.scanner import list_scanners

        names = [info.name for info in list_scanners()]
        if TEST_DEVICE not in names:
            pytest.fail(
                f"SANE lists {names}, not {TEST_DEVICE}: libsane reads SANE_CONFIG_DIR at the "
                "first sane_init of the process, so something initialised SANE before this "
                "fixture (or the test backend libsane-test is missing)"
            )
        yield TEST_DEVICE
