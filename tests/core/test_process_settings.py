"""Converting images leaves Pillow's and pydicom's process-wide settings as it found them.

They belong to the application (napari, other plugins): the settings are set to values
of "someone else" first, every assignment to them during the convert is recorded, and
none may happen.
"""

from __future__ import annotations

import types
from datetime import datetime

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageFile
from pydicom import config, dcmread

from napari_ezp2p.core.convert import convert_images, write_atomically
from napari_ezp2p.core.errors import ConversionError, ImageReadError
from napari_ezp2p.core.imageio import read_image
from napari_ezp2p.core.metadata import Metadata, check_metadata
from napari_ezp2p.core.transfer import transfer_syntax

NOW = datetime(2026, 11, 29, 12)


@pytest.fixture
def assignments(monkeypatch):
    """Every ``name = value`` done from outside on Pillow's and pydicom's settings."""
    done: list[str] = []

    def recording(kind, label):
        class Recording(kind):
            def __setattr__(self, name, value):
                done.append(f"{label}.{name} = {value!r}")
                super().__setattr__(name, value)

        return Recording

    for module in (Image, ImageFile, config):
        monkeypatch.setattr(module, "__class__", recording(types.ModuleType, module.__name__))
    monkeypatch.setattr(
        config.settings, "__class__", recording(config.Settings, "pydicom.config.settings")
    )
    return done


def _settings() -> dict[str, object]:
    pydicom_config = {
        name: value
        for name, value in vars(config).items()
        if not name.startswith("_") and isinstance(value, bool | int | float | str)
    }
    return {
        "LOAD_TRUNCATED_IMAGES": ImageFile.LOAD_TRUNCATED_IMAGES,
        "MAX_IMAGE_PIXELS": Image.MAX_IMAGE_PIXELS,
        "reading_validation_mode": config.settings.reading_validation_mode,
        "writing_validation_mode": config.settings.writing_validation_mode,
        "settings": dict(vars(config.settings)),
        **pydicom_config,
    }


def _inputs(folder):
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), np.uint8)).save(folder / "b.jpg")
    cut = folder / "cut.jpg"
    cut.write_bytes((folder / "b.jpg").read_bytes()[:-300])
    tifffile.imwrite(folder / "film.tif", rng.integers(0, 4096, (24, 32), np.uint16))
    return [folder / "a.png", folder / "b.jpg", cut, folder / "film.tif"]


def test_convert_leaves_other_libraries_settings_alone(tmp_path, monkeypatch, assignments):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # the application's choice
    monkeypatch.setattr(config.settings, "reading_validation_mode", config.IGNORE)
    monkeypatch.setattr(config.settings, "writing_validation_mode", config.WARN)
    paths = _inputs(tmp_path)
    before = _settings()
    assignments.clear()

    meta = Metadata(
        patient_name="Müller^Jürgen", patient_id="P1", institution_name="Städtisches Klinikum",
        charset="ISO_IR 100",
    )  # fmt: skip
    with pytest.raises(ConversionError, match="cannot be encoded"):
        check_metadata(Metadata(patient_name="山田^太郎", charset="ISO_IR 100"))
    images = []
    for path in paths:
        try:
            images.append(read_image(path))
        except ImageReadError as error:
            assert path.name == "cut.jpg" and "truncated" in str(error)
    assert len(images) == 3
    for key in ("explicit-le", "jpeg-ls"):
        for number, ds in enumerate(convert_images(images, meta, transfer_syntax(key), NOW)):
            written = dcmread(write_atomically(ds, tmp_path / f"{key}-{number}.dcm"))
            assert written.PatientName == "Müller^Jürgen"
            assert written.pixel_array.size

    assert assignments == []
    assert _settings() == before
