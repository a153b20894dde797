"""`--laterality` and `--burned-in` on the command line."""

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread

from napari_ezp2p.cli import main
from napari_ezp2p.cli.parser import build_parser
from tests.peers import dciodvfy_errors


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "in" / "hand.png"
    path.parent.mkdir()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (20, 30), np.uint8)).save(path)
    return path


def _convert(photo, tmp_path, *options) -> tuple[int, object]:
    out = tmp_path / "out" / "_".join(options)  # a folder per run
    status = main(["convert", str(photo), "-o", str(out), *options])
    path = out / "hand.dcm"
    if status == 0:
        assert dciodvfy_errors(path) == []
    return status, dcmread(path) if path.exists() else None


def test_a_paired_body_part_gets_the_side_given_or_empty(tmp_path, photo):
    status, ds = _convert(photo, tmp_path, "--body-part", "HAND", "--laterality", "L")
    assert status == 0 and ds.Laterality == "L"
    status, ds = _convert(photo, tmp_path, "--body-part", "HAND")
    assert status == 0 and ds.Laterality == ""


def test_a_side_for_an_unpaired_body_part_is_refused(tmp_path, photo, capsys):
    status, ds = _convert(photo, tmp_path, "--body-part", "CHEST", "--laterality", "R")
    assert status == 1 and ds is None
    assert "not a paired structure" in capsys.readouterr().err


def test_burned_in_defaults_to_yes_and_the_option_overrides_it(tmp_path, photo):
    assert _convert(photo, tmp_path)[1].BurnedInAnnotation == "YES"
    assert _convert(photo, tmp_path, "--burned-in", "no")[1].BurnedInAnnotation == "NO"
    assert _convert(photo, tmp_path, "--burned-in", "YES")[1].BurnedInAnnotation == "YES"


@pytest.mark.parametrize("command", ["convert", "send", "scan"])
def test_every_command_that_makes_objects_takes_both(command):
    argv = [command, "--laterality", "R", "--burned-in", "no"]
    argv += {"convert": ["x.png", "-o", "out"], "send": ["x.png"], "scan": []}[command]
    args = build_parser().parse_args(argv)
    assert (args.laterality, args.burned_in_annotation) == ("R", False)


def test_burned_in_is_yes_or_no(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["convert", "x.png", "-o", "out", "--burned-in", "maybe"])
    assert exit_info.value.code == 2
    assert "'maybe': give yes or no" in capsys.readouterr().err
