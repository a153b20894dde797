"""The docks follow each other: a destination added, changed or removed in the
Destinations dock, and the "Send" ticks, show at once in the Send and Study docks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from qtpy.QtCore import Qt

from napari_ezp2p._napari.session import session_for
from napari_ezp2p._qt.destinations_widget import DestinationsWidget
from napari_ezp2p._qt.send_widget import SendWidget
from napari_ezp2p._qt.study_widget import StudyWidget
from napari_ezp2p.config import Config, add_destination, save_config

from .helpers import click, type_into

CHECKED, UNCHECKED = Qt.CheckState.Checked, Qt.CheckState.Unchecked


def open_docks(make_napari_viewer):
    viewer = make_napari_viewer()
    docks = [
        viewer.window.add_plugin_dock_widget("napari-ezp2p", name)[1]
        for name in ("Destinations", "Send", "Study")
    ]
    return viewer, *docks


def add(qtbot, dock: DestinationsWidget, name: str, port: int, *, default=False) -> None:
    click(qtbot, dock.new_button)
    type_into(qtbot, dock.name, name)
    type_into(qtbot, dock.dest_ae_title, name.upper())
    type_into(qtbot, dock.host, "127.0.0.1")
    dock.port.setValue(port)
    dock.is_default.setChecked(default)
    click(qtbot, dock.save_button)


def send_list(send: SendWidget) -> dict[str, bool]:
    items = [send.destination_list.item(row) for row in range(send.destination_list.count())]
    return {item.text(): item.checkState() == CHECKED for item in items}


def send_ticks(dock: DestinationsWidget) -> dict[str, bool]:
    table = dock.table
    return {
        table.item(row, 1).text(): table.item(row, 0).checkState() == CHECKED
        for row in range(table.rowCount())
    }


def test_a_first_destination_shows_in_the_send_dock_as_the_default(
    home, make_napari_viewer, qtbot
):
    _, destinations, send, study = open_docks(make_napari_viewer)
    assert isinstance(destinations, DestinationsWidget)
    assert isinstance(send, SendWidget) and isinstance(study, StudyWidget)
    assert send_list(send) == {}
    assert "No destination configured" in send.destination_hint.text()

    add(qtbot, destinations, "pacs", 4242)

    assert send_list(send) == {"pacs": True}  # the first one is the default: ticked
    assert send_ticks(destinations) == {"pacs": True}
    assert send.destination_hint.text() == ""
    assert [study.server.itemText(i) for i in range(study.server.count())] == ["", "pacs"]

    add(qtbot, destinations, "archive", 4243)
    assert send_list(send) == {"pacs": True, "archive": False}

    click(qtbot, destinations.new_button)
    destinations.table.selectRow(0)  # pick "pacs" and remove it
    assert destinations.name.text() == "pacs"
    click(qtbot, destinations.remove_button)
    assert send_list(send) == {"archive": False}  # gone, and with it the default
    assert send_ticks(destinations) == {"archive": False}
    assert [study.server.itemText(i) for i in range(study.server.count())] == ["", "archive"]


def test_a_send_tick_in_one_dock_shows_in_the_other(home, make_napari_viewer, qtbot):
    config = add_destination(Config(), "A", "A@127.0.0.1:104", default=True)
    save_config(add_destination(config, "B", "B@127.0.0.1:105"), home / "config.toml")
    viewer, destinations, send, _ = open_docks(make_napari_viewer)
    session = session_for(viewer)
    assert send_list(send) == send_ticks(destinations) == {"A": True, "B": False}

    destinations.table.item(1, 0).setCheckState(CHECKED)  # tick B in the Destinations dock
    assert send_list(send) == {"A": True, "B": True}
    assert session.destinations == ("A", "B")

    send.destination_list.item(0).setCheckState(UNCHECKED)  # untick A in the Send dock
    assert send_ticks(destinations) == {"A": False, "B": True}
    assert session.destinations == ("B",)

    send.destination_list.item(1).setCheckState(UNCHECKED)  # none ticked: the default
    assert send_list(send) == send_ticks(destinations) == {"A": True, "B": False}


def test_an_edit_outside_napari_shows_when_the_study_server_list_opens(
    home, make_napari_viewer, qtbot
):
    _, destinations, send, study = open_docks(make_napari_viewer)
    save_config(add_destination(Config(), "pacs", "P@127.0.0.1:104"), home / "config.toml")
    study.server.showPopup()
    study.server.hidePopup()
    assert send_list(send) == {"pacs": True}
    assert send_ticks(destinations) == {"pacs": True}


def test_a_destination_added_by_the_command_in_another_process_shows_at_once(
    home, make_napari_viewer, qtbot
):
    _, destinations, send, study = open_docks(make_napari_viewer)
    ezp2p = Path(sys.executable).parent / "ezp2p"
    added = subprocess.run(
        [str(ezp2p), "destinations", "add", "pacs", "P@127.0.0.1:104", "--default"],
        capture_output=True,
        text=True,
    )
    assert added.returncode == 0, added.stderr

    qtbot.waitUntil(lambda: send_list(send) == {"pacs": True}, timeout=5000)
    assert send_ticks(destinations) == {"pacs": True}
    assert [study.server.itemText(i) for i in range(study.server.count())] == ["", "pacs"]
