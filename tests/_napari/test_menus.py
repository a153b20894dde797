import dataclasses

import numpy as np
import pytest
import tifffile
from app_model.backends.qt import QModelMenu
from napari.utils.notifications import NotificationSeverity, notification_manager
from qtpy.QtCore import Qt

from napari_ezp2p import config as ezp2p_config
from napari_ezp2p._napari import menus
from napari_ezp2p._napari.session import session_for
from napari_ezp2p.core.metadata import Metadata
from tests.conftest import assert_one_lossless_object_at_both

PLUGIN = "napari-ezp2p"
NAME = "山田^花子"


class _Context:
    """Stands for npe2's PluginContext: keeps what is to be disposed."""

    def __init__(self):
        self.disposables = []

    def register_disposable(self, dispose):
        self.disposables.append(dispose)


def _our_items(app):
    if "napari/layers/context" not in app.menus:
        return []
    items = app.menus.get_menu("napari/layers/context")
    return [
        i for i in items if getattr(getattr(i, "command", None), "id", None) == menus.COMMAND_ID
    ]


def test_napari_private_menu_api_is_still_there(mock_app_model):
    # napari._app_model, MenuId.LAYERLIST_CONTEXT, menus.append_menu_items and the
    # active_layer_type context key are private napari API: this fails if they change.
    from napari._app_model.constants import MenuId
    from napari._app_model.context._layerlist_context import LayerListSelectionContextKeys

    registry, menu_id = menus._layer_context_menus()
    assert registry is mock_app_model.menus and menu_id == "napari/layers/context"
    assert callable(registry.append_menu_items)
    assert "active_layer_type" in LayerListSelectionContextKeys.__members__
    # Once napari takes manifest items for this menu, napari.yaml should contribute it.
    assert menu_id not in MenuId.contributables()


def test_activation_adds_the_item_once_per_app_and_deactivation_removes_it(mock_app_model):
    ctx = _Context()
    menus.activate(ctx)
    menus.activate(ctx)  # npe2 activates once per process; entry points call it again
    assert menus.ensure_context_menu(ctx) is False
    (item,) = _our_items(mock_app_model)
    assert item.command.title == "Send layer to PACS"
    assert str(item.when) == menus.WHEN
    menus.deactivate(ctx)
    for dispose in ctx.disposables:  # what npe2 does right after on_deactivate
        dispose()
    assert _our_items(mock_app_model) == []


def test_a_new_app_gets_the_item_when_the_plugin_is_used(tmp_path, mock_app_model, monkeypatch):
    # npe2 activates a plugin once per process; a second napari application (each test
    # viewer has one) gets the item from the next use of the plugin, here its reader.
    from app_model import Application
    from napari._app_model._app import NapariApplication
    from npe2 import PluginManager
    from PIL import Image

    from napari_ezp2p._napari.reader import get_reader

    manager = PluginManager.instance()
    manager.discover()
    manager.activate(PLUGIN)
    Image.new("L", (4, 4)).save(tmp_path / "a.png")
    fresh = NapariApplication("ezp2p-fresh-app")
    try:
        monkeypatch.setattr(NapariApplication, "get_app_model", lambda *args: fresh)
        assert _our_items(fresh) == []
        assert callable(get_reader(str(tmp_path / "a.png")))
        assert len(_our_items(fresh)) == 1
    finally:
        Application.destroy("ezp2p-fresh-app")


def _records(severity, text) -> list:
    return [
        r
        for r in notification_manager.records
        if r.severity == severity and text in str(r.message)
    ]


@pytest.fixture
def user_config(tmp_path, monkeypatch):
    """An empty user config and outbox of this test's own; returns the config path."""
    path = tmp_path / "config.toml"
    monkeypatch.setenv("EZP2P_CONFIG", str(path))
    monkeypatch.setenv("EZP2P_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.delenv("EZP2P_AET", raising=False)
    return path


def test_right_click_sends_the_layer_to_the_default_pacs(
    tmp_path, make_napari_viewer, qtbot, orthanc, user_config, monkeypatch
):
    pacs = orthanc()
    config = ezp2p_config.add_destination(
        ezp2p_config.Config(), "orthanc", pacs.destination.address, default=True
    )
    ezp2p_config.save_config(dataclasses.replace(config, station_name="BENCH"), user_config)
    film = np.linspace(800, 3200, 48 * 64).reshape(48, 64).astype(np.uint16)
    tifffile.imwrite(tmp_path / "film.tif", film)

    viewer = make_napari_viewer()
    # Opening a file with our reader is a use of the plugin: npe2 activates it (once per
    # process) and the menu item appears in this viewer's application.
    (layer,) = viewer.open(tmp_path / "film.tif", plugin=PLUGIN)
    from napari._app_model import get_app_model

    assert len(_our_items(get_app_model())) == 1
    layer.contrast_limits = (1000, 3000)
    session_for(viewer).metadata = Metadata(patient_name=NAME, patient_id="H1")

    workers = []
    start_send = menus.start_send
    monkeypatch.setattr(menus, "start_send", lambda job: workers.append(start_send(job)))
    monkeypatch.setattr(QModelMenu, "exec_", lambda self, *args, **kwargs: None)
    layer_list = viewer.window._qt_viewer.layers
    row = layer_list.visualRect(layer_list.model().index(0, 0))
    qtbot.mouseClick(layer_list.viewport(), Qt.MouseButton.RightButton, pos=row.center())
    context_menu = layer_list.itemDelegate()._context_menu
    (action,) = [a for a in context_menu.actions() if a.text() == "Send layer to PACS"]
    assert action.isVisible() and action.isEnabled()
    action.trigger()

    (worker,) = workers
    qtbot.waitUntil(
        lambda: bool(_records(NotificationSeverity.INFO, "Sent 1 image to orthanc")), timeout=30000
    )
    qtbot.waitUntil(lambda: not worker.is_running, timeout=5000)
    (instance,) = pacs.rest("/instances")
    tags = pacs.rest(f"/instances/{instance}/simplified-tags")
    assert (tags["PatientName"], tags["PatientID"]) == (NAME, "H1")
    assert (float(tags["WindowCenter"]), float(tags["WindowWidth"])) == (2000, 2000)
    assert tags["StationName"] == "BENCH" and tags["SeriesDescription"] == "film"


def test_without_a_destination_the_command_says_where_to_add_one(
    make_napari_viewer, qtbot, user_config, monkeypatch
):
    from napari._app_model import get_app_model

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((8, 8), np.uint8), name="blank")
    result = get_app_model().commands.execute_command(menus.COMMAND_ID).result()
    qtbot.waitUntil(lambda: bool(_records(NotificationSeverity.ERROR, "Destinations dock")))
    qtbot.waitUntil(lambda: not result.is_running, timeout=5000)
    assert not (user_config.parent / "outbox" / "instances").exists() or not any(
        (user_config.parent / "outbox" / "instances").iterdir()
    )
    viewer.add_points([[1, 1]])  # still responsive: the active layer is now points
    get_app_model().commands.execute_command(menus.COMMAND_ID)
    assert _records(NotificationSeverity.WARNING, "select an image layer")


def test_a_peer_that_is_down_leaves_the_layer_in_the_outbox_with_the_reason(tmp_path, user_config):
    from napari_ezp2p.outbox import Outbox
    from tests.conftest import free_port

    address = f"NOBODY@127.0.0.1:{free_port()}"  # nothing listens there
    config = ezp2p_config.add_destination(ezp2p_config.Config(), "down", address, default=True)
    ezp2p_config.save_config(config, user_config)
    from napari_ezp2p._napari.sending import LayerSend, send_layers

    report = send_layers(LayerSend(layers=(_layer_image(),), metadata=Metadata(patient_name=NAME)))
    assert len(report.delivered) == 0 and {row.destination for row in report.rows} == {"down"}
    (problem,) = report.problems
    assert f"down ({address})" in problem and problem.count("down") == 1, problem
    assert problem.count("cannot connect") == 1 and report.headline().count(problem) == 1
    with Outbox(tmp_path / "outbox") as outbox:
        (entry,) = outbox.list()
    assert entry.state != "sent" and entry.patient_name == NAME


def test_a_layer_read_from_dicom_keeps_its_study_when_the_session_has_none():
    from napari.layers import Image

    from napari_ezp2p._napari.session import Session

    carried = {"patient_name": NAME, "study_instance_uid": "1.2.3", "series_number": 4}
    layer = Image(np.zeros((4, 4), np.uint16), metadata={"ezp2p": carried})
    meta = menus._metadata_for(layer, Session())
    assert (meta.patient_name, meta.study_instance_uid, meta.series_number) == (NAME, "1.2.3", 4)
    chosen = Session(metadata=Metadata(patient_name="OTHER^ONE"))
    assert menus._metadata_for(layer, chosen).patient_name == "OTHER^ONE"


def _layer_image():
    from napari_ezp2p._napari.session import LayerSnapshot

    return LayerSnapshot("x", np.full((8, 8), 100, np.uint16), False, (0, 200), {})


def test_the_layer_menu_sends_one_object_to_every_destination(
    make_napari_viewer, qtbot, two_stores
):
    viewer = make_napari_viewer()
    pixels = np.random.default_rng(8).integers(0, 255, (24, 32), dtype=np.uint8)
    layer = viewer.add_image(pixels, name="grey")
    session_for(viewer).destinations = ("A", "B")
    seen = len(notification_manager.records)
    worker = menus.send_layer_to_pacs(layer, viewer)
    with qtbot.waitSignal(worker.finished, timeout=30000):
        pass  # finished is delivered by the event loop, which runs only from here on
    messages = [n.message for n in notification_manager.records[seen:]]
    assert "Sent 1 image to A, B" in messages, messages
    assert_one_lossless_object_at_both(two_stores, pixels)
