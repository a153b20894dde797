"""The "Send layer to PACS" command, from the layer-list context menu and the Layers menu.

The command (``napari-ezp2p.send_layer``) is registered by npe2 from the manifest,
which also puts it in the public ``napari/layers/data`` menu. napari 0.9 does not take
manifest items for the layer-list context menu (``napari/layers/context``), so
:func:`activate` appends one through napari's app-model, a private API kept in
:func:`_layer_context_menus` alone.

npe2 activates a plugin once per process, but every napari application (a test's
viewer gets a fresh one) has its own menus: :func:`ensure_context_menu` adds the item
to the current application when it is missing, and the plugin's entry points (this
module's activation, the reader) call it.
"""

import dataclasses
import os
import queue
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import napari
from napari.utils.notifications import show_error, show_info, show_warning

from ..core.errors import Ezp2pError

if TYPE_CHECKING:  # imported when used: activation stays light (no pydicom)
    from ..core.metadata import Metadata
    from .session import LayerSnapshot, Session

PLUGIN_NAME = "napari-ezp2p"
COMMAND_ID = "napari-ezp2p.send_layer"
TITLE = "Send layer to PACS"
WHEN = "active_layer_type == 'image'"
GROUP = "8_ezp2p"
#: Environment variable naming the outbox folder (as for the ``ezp2p`` command).
ENV_OUTBOX = "EZP2P_OUTBOX"
NO_DESTINATION = (
    "No PACS to send to: add a destination in the Destinations dock "
    "(Plugins > ezp2p: Print to PACS > Destinations) and make it the default, "
    "or choose one in the Send dock."
)


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
    """Add "Send layer to PACS" to the current application's layer-list context menu
    unless it is there already. Returns whether it was added.

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
    item = MenuItem(
        command=CommandRule(id=COMMAND_ID, title=TITLE),
        when=parse_expression(WHEN),
        group=GROUP,
    )
    dispose = menus.append_menu_items([(menu_id, item)])
    if ctx is None:
        from npe2 import PluginManager

        ctx = PluginManager.instance().get_context(PLUGIN_NAME)
    ctx.register_disposable(dispose)
    return True


# --------------------------------------------------------------------------- the command


class NoDestinationError(Ezp2pError):
    """Nothing says where to send."""


@dataclasses.dataclass(frozen=True)
class SendJob:
    """What one send needs, taken on the main thread (the session can change after)."""

    layer: "LayerSnapshot"
    metadata: "Metadata"
    destinations: tuple[str, ...]
    transfer_syntax: str


@dataclasses.dataclass(frozen=True)
class SendResult:
    """What a send did: how many instances reached which destinations, and the
    reasons of those that did not (they stay in the outbox)."""

    sent: int
    destinations: tuple[str, ...]
    problems: tuple[str, ...] = ()


def send_layer_to_pacs(layer: napari.layers.Layer, viewer: napari.Viewer) -> Any:
    """Send the active image layer with the viewer's session (study, destinations,
    transfer syntax) and return the worker doing it, already started.

    The layer's pixels, the outbox, the conversion to DICOM and the network are all
    handled in a worker. The outcome is a notification: how many instances reached
    which destination, or the reason they did not (failed ones stay in the outbox).
    Returns None when there is nothing to send.
    """
    ensure_context_menu()
    if not isinstance(layer, napari.layers.Image):
        kind = layer.__class__.__name__ if layer is not None else "no layer"
        show_warning(f"Send layer to PACS: select an image layer (the active one is {kind}).")
        return None
    from .session import session_for

    try:
        job = _job(layer, session_for(viewer))
    except (Ezp2pError, ValueError) as error:
        show_error(f"Cannot send layer {layer.name!r}: {error}")
        return None
    return start_send(job)


def _job(layer: napari.layers.Image, session: "Session") -> SendJob:
    from .session import LayerSnapshot

    return SendJob(
        layer=LayerSnapshot.of(layer),
        metadata=_metadata_for(layer, session),
        destinations=tuple(session.destinations),
        transfer_syntax=session.transfer_syntax,
    )


def _metadata_for(layer: napari.layers.Image, session: "Session") -> "Metadata":
    """The session's study; when none was set, the one the layer came with (a DICOM
    file read by our reader keeps its patient, study and series)."""
    from ..core.metadata import Metadata

    meta = session.metadata
    carried = (layer.metadata or {}).get("ezp2p")
    if meta == Metadata() and isinstance(carried, dict) and carried:
        known = {f.name for f in dataclasses.fields(Metadata)} - {"window", "rescale", "queried"}
        meta = Metadata(**{k: v for k, v in carried.items() if k in known})
    return meta


def start_send(job: SendJob, on_done: Callable[[SendResult], None] | None = None) -> Any:
    """Start a worker sending ``job``; progress shows in the activity dock."""
    from napari.qt.threading import thread_worker
    from napari.utils import progress

    from .._qt._common import Unnested

    bar = progress(total=0, desc=f"Sending {job.layer.name or 'layer'}")
    counts: dict[str, tuple[int, int]] = {}

    def draw() -> None:
        bar.total = sum(t for _, t in counts.values())
        bar.update(sum(d for d, _ in counts.values()) - bar.n)

    redraw = Unnested(draw)

    def on_progress(event: tuple[str, int, int]) -> None:
        name, done, total = event
        counts[name] = (done, total)
        redraw()

    def on_returned(result: SendResult) -> None:
        where = ", ".join(result.destinations)
        if result.problems:
            show_error(
                f"Sent {result.sent} to {where}, but: "
                + "; ".join(result.problems)
                + " (failed ones stay in the outbox)."
            )
        else:
            show_info(f"Sent {result.sent} to {where}.")
        if on_done is not None:
            on_done(result)

    def on_errored(error: Exception) -> None:
        if isinstance(error, NoDestinationError):
            show_error(str(error))
        else:
            show_error(f"Cannot send {job.layer.name or 'the layer'}: {error}")

    connect = {
        "yielded": on_progress,
        "returned": on_returned,
        "errored": on_errored,  # instead of re-raising in the event loop
        "finished": bar.close,
    }
    worker = thread_worker(_send_events, start_thread=False, connect=connect)(job)
    worker.start()
    return worker


# --------------------------------------------------------------------------- off the loop


def _send_events(job: SendJob) -> Iterator[tuple[str, int, int]]:
    """Run :func:`send_job` in a thread of its own, yielding its progress events
    ``(destination, done, total)``; returns its SendResult or raises its error."""
    events: queue.Queue = queue.Queue()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = send_job(job, lambda *event: events.put(event))
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
    return outcome["result"]


def send_job(job: SendJob, progress: Callable[[str, int, int], None] | None = None) -> SendResult:
    """Queue the layer in the outbox and send what is due for its destinations.

    Blocking (pixels, disk and network): call it off the event loop. Raises
    NoDestinationError when neither the session nor the config names a destination,
    the Ezp2pError of a config or outbox that cannot be used, and the Ezp2pError or
    ValueError of pixels that cannot be sent.
    """
    from ..config import load_user_config, resolve_destination
    from ..core.transfer import transfer_syntax
    from ..outbox import Outbox
    from ..workflow import queue_images, send_queued

    config = load_user_config()
    if not job.destinations and not config.default_destination:
        raise NoDestinationError(NO_DESTINATION)
    destinations = [resolve_destination(config, name) for name in job.destinations or ("",)]
    ts = transfer_syntax(job.transfer_syntax or destinations[0].transfer_syntax or "explicit-le")
    meta = _with_config_defaults(job.metadata, config, job.layer.name)
    layer = job.layer.image()
    folder = os.environ.get(ENV_OUTBOX) or config.outbox
    with Outbox(folder) as outbox:
        queued = queue_images(
            [(layer.name, layer.image, layer.overrides)], meta, ts, destinations, outbox
        )
        if queued.errors:
            raise Ezp2pError(queued.errors[0][1])
        summary = send_queued(outbox, destinations, config.network, progress)
    problems = []
    for run in summary.destinations.values():
        if run.error:
            problems.append(f"{run.name}: {run.error}")
        problems += [f"{run.name}: {failure.reason}" for failure in run.failures]
        if (run.failed or run.not_sent) and not (run.error or run.failures):
            problems.append(f"{run.name}: {run.failed + run.not_sent} not sent")
    names = tuple(d.name for d in destinations)
    return SendResult(summary.sent, names, tuple(problems))


def _with_config_defaults(meta: "Metadata", config, layer_name: str) -> "Metadata":
    """``meta`` with the config's institution, station and series defaults where it
    has none, and the layer's name as the series description when nothing else."""
    fill: dict[str, Any] = {}
    for name in ("institution_name", "institution_address", "station_name"):
        if not getattr(meta, name) and getattr(config, name):
            fill[name] = getattr(config, name)
    if not meta.series_description:
        fill["series_description"] = config.series_description or layer_name
    return dataclasses.replace(meta, **fill) if fill else meta
