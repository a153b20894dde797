"""The "Send layer to PACS" and "Send what you see to PACS" commands, from the
layer-list context menu and the Layers menu.

The commands (``napari-ezp2p.send_layer``, ``napari-ezp2p.send_view``) are registered
by npe2 from the manifest, which also puts them in the public ``napari/layers/data``
menu. napari 0.9 does not take manifest items for the layer-list context menu
(``napari/layers/context``), so :func:`activate` appends them through napari's
app-model, a private API kept in :func:`_layer_context_menus` alone.

npe2 activates a plugin once per process, but every napari application (a test's
viewer gets a fresh one) has its own menus: :func:`ensure_context_menu` adds the item
to the current application when it is missing, and the plugin's entry points (this
module's activation, the reader) call it.
"""

import dataclasses
import queue
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

import napari
from napari.utils.notifications import show_error, show_info, show_warning

if TYPE_CHECKING:  # imported when used: activation stays light (no pydicom)
    from ..core.metadata import Metadata
    from ..jobs.report import SendReport
    from ..net.progress import ObjectProgress
    from .sending import LayerSend
    from .session import Session

PLUGIN_NAME = "napari-ezp2p"
COMMAND_ID = "napari-ezp2p.send_layer"
TITLE = "Send layer to PACS"
WHEN = "active_layer_type == 'image' or active_layer_type == 'labels'"
VIEW_COMMAND_ID = "napari-ezp2p.send_view"
VIEW_TITLE = "Send what you see to PACS"
VIEW_WHEN = "num_layers > 0"
GROUP = "8_ezp2p"


# --------------------------------------------------------------------------- activation


def activate(ctx=None) -> None:
    """npe2 ``on_activate``: add the layer-list context menu item."""
    ensure_context_menu(ctx)


def deactivate(ctx=None) -> None:
    """npe2 ``on_deactivate``: nothing to do here, the items added are disposables
    of the plugin context, which npe2 disposes right after this call."""


def _layer_context_menus():
    """napari's app-model menu registry and the layer-list context menu id.

    Private napari API (``napari._app_model``), the only way to reach that menu in
    napari 0.9; tests/_napari/test_menus.py fails when it changes.
    """
    from napari._app_model import get_app_model
    from napari._app_model.constants import MenuId

    return get_app_model().menus, MenuId.LAYERLIST_CONTEXT


def ensure_context_menu(ctx=None) -> bool:
    """Add "Send layer to PACS" and "Send what you see to PACS" to the current
    application's layer-list context menu unless they are there already. Returns
    whether they were added.

    The removal is registered on the plugin's npe2 context (``ctx``, else the plugin
    manager's), so deactivating the plugin removes the item.
    """
    from app_model.expressions import parse_expression
    from app_model.types import CommandRule, MenuItem

    menus, menu_id = _layer_context_menus()
    if menu_id in menus and any(
        getattr(getattr(item, "command", None), "id", None) == COMMAND_ID
        for item in menus.get_menu(menu_id)
    ):
        return False
    items = [
        MenuItem(
            command=CommandRule(id=command, title=title), when=parse_expression(when), group=GROUP
        )
        for command, title, when in (
            (COMMAND_ID, TITLE, WHEN),
            (VIEW_COMMAND_ID, VIEW_TITLE, VIEW_WHEN),
        )
    ]
    dispose = menus.append_menu_items([(menu_id, item) for item in items])
    if ctx is None:
        from npe2 import PluginManager

        ctx = PluginManager.instance().get_context(PLUGIN_NAME)
    ctx.register_disposable(dispose)
    return True


# --------------------------------------------------------------------------- the command


def send_layer_to_pacs(layer: napari.layers.Layer, viewer: napari.Viewer) -> Any:
    """Send the active image or labels layer with the viewer's session (study,
    destinations, transfer syntax) and return the worker doing it, already started.

    The layer's pixels, the outbox, the conversion to DICOM and the network are all
    handled in a worker (:func:`.sending.send_layers`, as for the Send dock). The
    outcome is a notification: the report's headline (failed ones stay in the outbox).
    Returns None when there is nothing to send.
    """
    ensure_context_menu()
    if not isinstance(layer, napari.layers.Image | napari.layers.Labels):
        kind = layer.__class__.__name__ if layer is not None else "no layer"
        show_warning(
            "Send layer to PACS: select an image layer or a labels layer "
            f"(the active one is {kind})."
        )
        return None
    from .sending import LayerSend
    from .session import LayerSnapshot, session_for

    session = session_for(viewer)
    job = LayerSend(
        layers=(LayerSnapshot.of(layer, viewer),),
        metadata=_metadata_for(layer, session),
        destinations=tuple(session.destinations),
        transfer_syntax=session.transfer_syntax,
    )
    return start_send(job)


def send_view_to_pacs(viewer: napari.Viewer) -> Any:
    """Render the current slice as the canvas shows it (:mod:`.rendering`, on the main
    thread) and send it with the viewer's session; returns the started worker, or None
    when there is nothing to render."""
    ensure_context_menu()
    from .rendering import RenderError, reference_layer, view_send
    from .session import session_for

    session = session_for(viewer)
    try:
        layer = reference_layer(viewer)
        meta = partial(_metadata_for, layer, session)
        job = view_send(viewer, meta, session.destinations, session.transfer_syntax)
    except RenderError as error:
        show_warning(f"{VIEW_TITLE}: {error}")
        return None
    return start_send(job)


def _metadata_for(layer: napari.layers.Layer, session: "Session") -> "Metadata":
    """The session's study, kept for the next send; when none was set, the one the
    layer came with (a DICOM file read by our reader keeps its patient, study and series)."""
    from ..core.metadata import Metadata
    from .sending import metadata_for_send

    carried = (layer.metadata or {}).get("ezp2p")
    if session.metadata == Metadata() and isinstance(carried, dict) and carried:
        known = {f.name for f in dataclasses.fields(Metadata)} - {"window", "rescale", "queried"}
        return Metadata(**{k: v for k, v in carried.items() if k in known})
    return metadata_for_send(session)


def start_send(job: "LayerSend", on_done: Callable[["SendReport"], None] | None = None) -> Any:
    """Start a worker sending ``job``; progress shows in the activity dock."""
    from napari.qt.threading import thread_worker

    from .progress import SendProgress

    labels = job.labels
    name = labels[0] if len(labels) == 1 else f"{len(labels)} layers"
    bar = SendProgress(f"Sending {name or 'layer'}")

    def on_returned(report: "SendReport") -> None:
        if report.ok:
            show_info(report.headline())
        else:
            show_error(report.headline())
        if on_done is not None:
            on_done(report)

    def on_errored(error: Exception) -> None:
        from .sending import NoDestinationError

        if isinstance(error, NoDestinationError):
            show_error(str(error))
        else:
            show_error(f"Cannot send {name or 'the layer'}: {error}")

    connect = {
        "yielded": bar.show,
        "returned": on_returned,
        "errored": on_errored,  # instead of re-raising in the event loop
        "finished": bar.close,
    }
    worker = thread_worker(_send_events, start_thread=False, connect=connect)(job)
    worker.start()
    return worker


# --------------------------------------------------------------------------- off the loop


def _send_events(job: "LayerSend") -> Iterator["tuple[str, int, int] | ObjectProgress"]:
    """Run :func:`.sending.send_layers` in a thread of its own, yielding its progress
    events ``(destination, done, total)`` and its objects'; returns its report or raises
    its error."""
    from .sending import send_layers

    events: queue.Queue = queue.Queue()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["report"] = send_layers(job, lambda *event: events.put(event), events.put)
        except Exception as error:  # noqa: BLE001 - re-raised in the worker thread below
            outcome["error"] = error

    thread = threading.Thread(target=run, name="ezp2p-send-layer", daemon=True)
    thread.start()
    while thread.is_alive() or not events.empty():
        try:
            yield events.get(timeout=0.05)
        except queue.Empty:
            continue
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["report"]
