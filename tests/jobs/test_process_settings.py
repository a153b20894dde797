"""A convert and a send in one process leave Pillow's, pydicom's and pynetdicom's
process-wide settings as the application set them: they belong to napari and every
other plugin, not to us."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFile
from pydicom import config
from pynetdicom import _config

from napari_ezp2p.cli import main
from tests.net.helpers import sc_objects


def _everything() -> dict[str, object]:
    pynetdicom = {name: value for name, value in vars(_config).items() if name.isupper()}
    return {
        "pillow": (ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS),
        "pydicom": dict(vars(config.settings)),
        "pynetdicom": pynetdicom,
    }


def test_convert_and_send_leave_the_process_settings_alone(tmp_path, storescp, monkeypatch):
    # As the application might have them: each differs from what our code would want.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    monkeypatch.setattr(config.settings, "writing_validation_mode", config.WARN)
    monkeypatch.setattr(config.settings, "reading_validation_mode", config.IGNORE)
    monkeypatch.setattr(_config, "LOG_HANDLER_LEVEL", "standard")
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", False)
    before = _everything()

    rng = np.random.default_rng(2)
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(inputs / "a.jpg")
    Image.fromarray(rng.integers(0, 4095, (30, 20), dtype=np.uint16)).save(inputs / "b.png")
    (inputs / "c.jpg").write_bytes((inputs / "a.jpg").read_bytes()[:-300])  # truncated
    sc_objects(1, "jpeg-ls")[0].save_as(inputs / "d.dcm", enforce_file_format=True)
    home = ["--config", str(tmp_path / "config.toml"), "--outbox", str(tmp_path / "outbox")]
    name = ["--patient-name", "Müller^Jörg", "--charset", "ISO_IR 100"]

    assert main([*home, "convert", *map(str, inputs.iterdir()), "-o", str(tmp_path / "out")]) == 1
    assert main([*home, "send", str(inputs), "--to", storescp.destination.address, *name]) == 1
    assert len(storescp.received()) == 3  # all but the truncated JPEG
    assert _everything() == before
