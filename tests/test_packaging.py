"""The package as users get it: the wheel, the napari manifest, the import contract."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
SAMPLES = ["napari_ezp2p/samples/film-scan.tif", "napari_ezp2p/samples/colour-photo.jpg"]


def tool(name: str) -> str:
    """A console script of this environment (the one running pytest)."""
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    assert found, f"{name} is not installed: install the project with the 'test' extra"
    return found


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)


def copy_project(destination: Path) -> Path:
    """Copy what a build needs (no caches, no egg-info, no build/) to ``destination``."""
    destination.mkdir(parents=True)
    shutil.copy2(REPO / "pyproject.toml", destination)
    shutil.copy2(REPO / "README.md", destination)
    shutil.copytree(REPO / "src", destination / "src", ignore=IGNORE)
    return destination


def env_with_path(*paths: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(p) for p in paths] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the working tree (the repo itself stays clean)."""
    tmp = tmp_path_factory.mktemp("wheel")
    project = copy_project(tmp / "project")
    dist = tmp / "dist"
    result = run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)],
        cwd=project,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [built] = dist.glob("napari_ezp2p-*.whl")
    return built


def test_wheel_holds_the_manifest_the_samples_and_the_entry_point(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert "napari_ezp2p/napari.yaml" in names
        assert "napari_ezp2p/_napari/sample_data.py" in names
        for sample in SAMPLES:
            assert sample in names
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        parser = configparser.ConfigParser()
        parser.read_string(archive.read(entry_points).decode())
    assert parser["napari.manifest"]["napari-ezp2p"] == "napari_ezp2p:napari.yaml"


DISCOVER = """
import json
from npe2 import PluginManager, PluginManifest
import napari_ezp2p

found = [r for r in PluginManifest.discover() if r.manifest and r.manifest.name == "napari-ezp2p"]
manager = PluginManager()
manager.discover()
manifest = manager.get_manifest("napari-ezp2p")
print(json.dumps({
    "module": napari_ezp2p.__file__,
    "distribution": str(found[0].distribution.locate_file("")),
    "manifest": str(manifest._source_file),
    "display_name": manifest.display_name,
    "samples": [s.key for s in manifest.contributions.sample_data or []],
}))
"""


def test_npe2_finds_the_manifest_of_the_installed_wheel(wheel, tmp_path):
    target = tmp_path / "site"
    result = run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
         "--disable-pip-version-check", "--target", str(target), str(wheel)]
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr

    result = run([sys.executable, "-c", DISCOVER], cwd=tmp_path, env=env_with_path(target))
    assert result.returncode == 0, result.stdout + result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])

    target = target.resolve()
    for key in ("module", "distribution", "manifest"):
        assert Path(found[key]).resolve().is_relative_to(target), (key, found[key])
    assert Path(found["manifest"]).name == "napari.yaml"
    assert found["display_name"] == "ezp2p: Print to PACS"
    assert set(found["samples"]) >= {"film_scan", "colour_photo"}


def test_npe2_validates_the_manifest_and_its_imports():
    result = run([tool("npe2"), "validate", "napari-ezp2p", "--imports"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_import_contract_holds():
    result = run([tool("lint-imports"), "--no-cache"], cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_import_contract_catches_qt_in_core(tmp_path):
    """The contract is live: a copy of the package with Qt imported in core breaks it."""
    project = copy_project(tmp_path / "project")
    probe = project / "src" / "napari_ezp2p" / "core" / "_contract_probe.py"
    probe.write_text("import qtpy  # noqa: F401\n")

    result = run(
        [tool("lint-imports"), "--no-cache", "--config", str(project / "pyproject.toml")],
        cwd=project,
        env=env_with_path(project / "src"),
    )
    assert result.returncode != 0, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    assert "napari_ezp2p.core._contract_probe -> qtpy" in result.stdout
