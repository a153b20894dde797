"""The Study dock's Laterality and Burned In Annotation fields."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import numpy as np
import pytest

from napari_ezp2p._napari.session import session_for
from napari_ezp2p._qt.study_widget import StudyWidget
from napari_ezp2p.core.image import image_from_array
from napari_ezp2p.core.sc import build_sc, complete_metadata
from napari_ezp2p.core.transfer import transfer_syntax

from .helpers import click, open_dock, type_into


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("EZP2P_CONFIG", str(tmp_path / "config.toml"))
    return tmp_path


def _object(meta):
    image, _ = image_from_array(np.zeros((8, 8), np.uint8), rgb=False)
    now = datetime(2026, 11, 29, 15, 30, 12)
    return build_sc(image, complete_metadata(meta, now), transfer_syntax("explicit-le"), now=now)


def test_the_side_of_a_paired_body_part(home, make_napari_viewer, qtbot):
    viewer, widget = open_dock(make_napari_viewer, "Study", StudyWidget)
    session = session_for(viewer)
    side = widget.fields["laterality"]
    assert [side.itemData(i) for i in range(side.count())] == ["", "R", "L"]

    type_into(qtbot, widget.fields["body_part"], "HAND")
    side.setCurrentIndex(side.findData("L"))
    assert session.metadata.laterality == "L"
    assert widget.problem_label.text() == ""
    assert _object(session.metadata).Laterality == "L"

    type_into(qtbot, widget.fields["body_part"], "CHEST")
    assert "not a paired structure" in widget.problem_label.text()
    side.setCurrentIndex(side.findData(""))
    assert widget.problem_label.text() == ""
    assert "Laterality" not in _object(session.metadata)


def test_burned_in_source_default_yes_or_no(home, make_napari_viewer, qtbot):
    viewer, widget = open_dock(make_napari_viewer, "Study", StudyWidget)
    session = session_for(viewer)
    combo = widget.fields["burned_in_annotation"]
    assert [combo.itemText(i) for i in range(combo.count())] == ["source default", "YES", "NO"]
    assert combo.currentIndex() == 0 and session.metadata.burned_in_annotation is None
    assert _object(session.metadata).BurnedInAnnotation == "YES"

    combo.setCurrentIndex(2)
    assert session.metadata.burned_in_annotation is False
    assert _object(session.metadata).BurnedInAnnotation == "NO"
    combo.setCurrentIndex(1)
    assert session.metadata.burned_in_annotation is True

    # The form follows the model: a layer's study that says NO shows NO.
    session.metadata = dataclasses.replace(session.metadata, burned_in_annotation=False)
    assert combo.currentText() == "NO"
    session.metadata = dataclasses.replace(session.metadata, burned_in_annotation=None)
    assert combo.currentText() == "source default"


def test_clear_forgets_the_side_and_the_override(home, make_napari_viewer, qtbot):
    # The next patient must not inherit this one's side or Burned In Annotation.
    viewer, widget = open_dock(make_napari_viewer, "Study", StudyWidget)
    session = session_for(viewer)
    type_into(qtbot, widget.fields["body_part"], "KNEE")
    widget.fields["laterality"].setCurrentIndex(widget.fields["laterality"].findData("R"))
    widget.fields["burned_in_annotation"].setCurrentIndex(2)
    assert (session.metadata.laterality, session.metadata.burned_in_annotation) == ("R", False)
    click(qtbot, widget.clear_button)
    assert (session.metadata.body_part, session.metadata.laterality) == ("", "")
    assert session.metadata.burned_in_annotation is None
    assert widget.fields["laterality"].currentData() == ""
    assert widget.fields["burned_in_annotation"].currentText() == "source default"
