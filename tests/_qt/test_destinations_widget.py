"""The Destinations dock: the config file on disk, C-ECHO of a live and a dead peer."""

from __future__ import annotations

import pytest
from napari.utils.notifications import notification_manager
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication

from napari_ezp2p._napari.session import session_for
from napari_ezp2p._qt.destinations_widget import DestinationsWidget
from napari_ezp2p.config import load_config
from napari_ezp2p.net.destination import MAX_ASSOCIATIONS

from ..conftest import OUR_AE, free_port
from .helpers import click, open_dock, type_into


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    """The config file the dock reads and writes (not there yet)."""
    path = tmp_path / "settings" / "config.toml"
    monkeypatch.setenv("EZP2P_CONFIG", str(path))
    monkeypatch.delenv("EZP2P_AET", raising=False)
    return path


def fill(qtbot, widget: DestinationsWidget, name: str, ae_title: str, port: int) -> None:
    click(qtbot, widget.new_button)
    type_into(qtbot, widget.name, name)
    type_into(qtbot, widget.dest_ae_title, ae_title)
    type_into(qtbot, widget.host, "127.0.0.1")
    widget.port.setValue(port)


def echo(qtbot, widget: DestinationsWidget) -> str:
    click(qtbot, widget.echo_button)
    qtbot.waitUntil(widget.echo_button.isEnabled, timeout=20000)
    return widget.echo_label.text()


def test_add_edit_pick_and_remove_destinations(config_file, make_napari_viewer, qtbot):
    viewer, widget = open_dock(make_napari_viewer, "Destinations", DestinationsWidget)
    session = session_for(viewer)
    assert widget.ae_title.text() == "EZP2P"

    fill(qtbot, widget, "pacs", "ORTHANC", 4242)
    widget.syntax.setCurrentIndex(widget.syntax.findData("jpeg-ls"))
    click(qtbot, widget.save_button)
    config = load_config(config_file)
    assert config.destinations["pacs"].address == "ORTHANC@127.0.0.1:4242"
    assert config.destinations["pacs"].transfer_syntax == "jpeg-ls"
    assert config.default_destination == "pacs"  # the first one is the default
    assert widget.table.rowCount() == 1
    assert "default" in widget.table.item(0, 4).text()

    fill(qtbot, widget, "ris", "RIS", 1104)
    widget.is_worklist.setChecked(True)
    click(qtbot, widget.save_button)
    config = load_config(config_file)
    assert config.default_worklist == "ris" and config.default_destination == "pacs"

    # Picking a row loads it; an edit is saved under the same name.
    widget.table.selectRow(0)
    assert widget.name.text() == "pacs" and widget.port.value() == 4242
    widget.port.setValue(4243)
    click(qtbot, widget.save_button)
    assert load_config(config_file).destinations["pacs"].port == 4243

    # The ticked destinations are the session's, for the Send dock: none ticked shows
    # the default ticked, as the Send dock does.
    assert widget.table.item(0, 0).checkState() == Qt.CheckState.Checked
    widget.table.item(1, 0).setCheckState(Qt.CheckState.Checked)
    assert session.destinations == ("pacs", "ris")

    # A bad value is told and nothing is written.
    fill(qtbot, widget, "bad name!", "X", 104)
    click(qtbot, widget.save_button)
    assert "destination name" in widget.status.text()
    assert set(load_config(config_file).destinations) == {"pacs", "ris"}

    widget.table.selectRow(1)
    click(qtbot, widget.remove_button)
    config = load_config(config_file)
    assert set(config.destinations) == {"pacs"} and config.default_worklist == ""
    assert session.destinations == ("pacs",)

    type_into(qtbot, widget.ae_title, "BAD\\AET")
    qtbot.keyClick(widget.ae_title, Qt.Key.Key_Return)
    assert "backslash" in widget.status.text()
    assert load_config(config_file).network.ae_title == "EZP2P"
    type_into(qtbot, widget.ae_title, "NAPARI1")
    qtbot.keyClick(widget.ae_title, Qt.Key.Key_Return)
    assert load_config(config_file).network.ae_title == "NAPARI1"


def test_the_associations_are_saved_and_shown_again(config_file, make_napari_viewer, qtbot):
    _, widget = open_dock(make_napari_viewer, "Destinations", DestinationsWidget)
    assert widget.associations.value() == 1
    assert widget.associations.maximum() == MAX_ASSOCIATIONS

    fill(qtbot, widget, "pacs", "ORTHANC", 4242)
    widget.associations.setValue(4)
    click(qtbot, widget.save_button)
    fill(qtbot, widget, "ris", "WLM", 104)
    assert widget.associations.value() == 1  # "New" starts from the default
    click(qtbot, widget.save_button)
    config = load_config(config_file)
    assert config.destinations["pacs"].associations == 4
    assert config.destinations["ris"].associations == 1

    widget.table.selectRow(0)
    assert widget.associations.value() == 4
    widget.table.selectRow(1)
    assert widget.associations.value() == 1


def test_echo_a_live_pacs_and_a_dead_one(config_file, make_napari_viewer, qtbot, orthanc):
    pacs = orthanc()
    _, widget = open_dock(make_napari_viewer, "Destinations", DestinationsWidget)
    assert widget.ae_title.text() == OUR_AE  # the AE title Orthanc knows

    fill(qtbot, widget, "orthanc", "ORTHANC", pacs.destination.port)
    assert echo(qtbot, widget).startswith("success, ")
    assert widget.echo_label.text().endswith(" ms")

    before = len(notification_manager.records)
    fill(qtbot, widget, "dead", "NOBODY", free_port())
    text = echo(qtbot, widget)
    assert "refused" in text.lower()
    errors = [str(n.message) for n in notification_manager.records[before:]]
    assert any("Echo of dead" in m and "refused" in m.lower() for m in errors), errors

    # The dock still answers: a second echo runs and the event loop turns.
    QApplication.processEvents()
    assert "refused" in echo(qtbot, widget).lower()
    fill(qtbot, widget, "orthanc", "ORTHANC", pacs.destination.port)
    assert echo(qtbot, widget).startswith("success, ")
