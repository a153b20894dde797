"""Start-up: ``ezp2p send FILE.dcm`` imports only what sending a DICOM file as it is needs.

pydicom itself brings numpy, Pillow, requests and tqdm; what our code would add for
converting (the encoders, TIFF, video, PDF rendering, scanners) or for the GUI stays out
until an input needs it.
"""

from __future__ import annotations

import subprocess
import sys

from tests.outbox.test_queue import make_datasets

#: What a plain send of a DICOM file must not import.
NOT_FOR_A_DICOM_FILE = (
    "imagecodecs",
    "tifffile",
    "av",
    "pypdfium2",
    "sane",
    "napari",
    "qtpy",
    "magicgui",
    "napari_ezp2p.core.pixels",
    "napari_ezp2p.core.imageio",
    "napari_ezp2p.capture.video",
    "napari_ezp2p.capture.clip",
    "napari_ezp2p.capture.scanner",
)

#: Runs the command, then writes the names of the modules it loaded to the file argv[1].
_LOADED = """
import sys
from pathlib import Path
from napari_ezp2p.cli import main
status = main(sys.argv[2:])
Path(sys.argv[1]).write_text("\\n".join(sorted(sys.modules)))
sys.exit(status)
"""


def _loaded_by(tmp_path, *argv: str) -> set[str]:
    listing = tmp_path / "modules.txt"
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, str(listing), *argv], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return set(listing.read_text().split())


def test_sending_a_dicom_file_imports_no_encoder_reader_or_gui(storescp, tmp_path):
    source = tmp_path / "in.dcm"
    make_datasets(1)[0].save_as(source, enforce_file_format=True)
    dest = storescp.destination
    loaded = _loaded_by(
        tmp_path,
        *("--config", str(tmp_path / "none.toml"), "--outbox", str(tmp_path / "outbox")),
        *("send", str(source), "--to", f"{dest.ae_title}@{dest.host}:{dest.port}"),
    )
    assert len(storescp.received()) == 1, "nothing was sent"
    assert "pynetdicom" in loaded and "napari_ezp2p.outbox.queue" in loaded
    assert sorted(loaded & set(NOT_FOR_A_DICOM_FILE)) == []
