"""Sending napari layers: what the Send dock and "Send layer to PACS" both run, off the
event loop, on top of :mod:`napari_ezp2p.jobs.send`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from functools import partial

from ..core.errors import Ezp2pError
from ..core.image import SourceImage
from ..core.metadata import Metadata
from ..jobs.report import SendReport
from ..net.progress import OnProgress
from .session import LayerSnapshot, Session
from .study_session import next_send

NO_DESTINATION = (
    "No PACS to send to: add a destination in the Destinations dock "
    "(Plugins > ezp2p: Print to PACS > Destinations) and make it the default, "
    "or choose one in the Send dock."
)
#: Series Description is a LO: 64 characters at most.
SERIES_DESCRIPTION_LENGTH = 64
#: ``progress(destination name, instances done, instances in the batch)``.
Progress = Callable[[str, int, int], None]


class NoDestinationError(Ezp2pError):
    """Nothing says where to send."""


@dataclasses.dataclass(frozen=True)
class RenderedView:
    """Layers rendered as the canvas shows them (``rendering.render_view``), shown as
    ``name``; ``description`` is its series description unless the study gives one."""

    name: str
    image: SourceImage
    description: str


@dataclasses.dataclass(frozen=True)
class LayerSend:
    """What one send needs, taken on the main thread (the session can change after):
    the layers, the rendered views, the study (:func:`metadata_for_send`, so that
    consecutive sends share the session's study), the destinations (configured names
    or ``AET@host:port``; none means the configured default) and the transfer syntax
    key ("" to let ``jobs.inputs.SyntaxChoice`` choose)."""

    layers: tuple[LayerSnapshot, ...]
    metadata: Metadata
    destinations: tuple[str, ...] = ()
    transfer_syntax: str = ""
    views: tuple[RenderedView, ...] = ()

    @property
    def labels(self) -> list[str]:
        """What the send's rows show: the layers' names, then the views'."""
        return [layer.label for layer in self.layers] + [view.name for view in self.views]


def metadata_for_send(session: Session) -> Metadata:
    """The study of the send starting now: the session's (see :mod:`.study_session`),
    or the config's defaults when nobody filled it. Call it on the main thread, once
    per send: it keeps the study in the session for the next one."""
    from ..config import load_user_config, metadata_defaults

    try:
        defaults = metadata_defaults(load_user_config())
    except Ezp2pError:  # the send says what is wrong with the config
        defaults = None
    return next_send(session, defaults)


def send_layers(
    job: LayerSend, progress: Progress | None = None, object_progress: OnProgress | None = None
) -> SendReport:
    """Send the layers and the rendered views, one object each, to the destinations
    through the outbox.

    Blocking (pixels, disk and network): call it off the event loop. ``object_progress``
    follows each object's frames encoded and bytes sent. The config's
    defaults fill what the study leaves empty, and a layer's name is its series
    description when nothing else gives one, with the slices sent when not all of it
    goes (the report's rows say them too). A layer whose pixels cannot be sent, or whose
    slice choice does not fit it, fails alone. Raises NoDestinationError when neither
    the job nor the config names a destination, and the Ezp2pError of a config or
    outbox that cannot be used.
    """
    from ..config import load_user_config, metadata_defaults, outbox_folder, resolve_destination
    from ..jobs.inputs import SyntaxChoice
    from ..jobs.send import SendItem, send, with_config_defaults

    config = load_user_config()
    if not job.destinations and not config.default_destination:
        raise NoDestinationError(NO_DESTINATION)
    destinations = [resolve_destination(config, name) for name in job.destinations or ("",)]
    meta = with_config_defaults(job.metadata, metadata_defaults(config))
    named = not meta.series_description
    load = partial(_item, named=named, conversion_type=meta.conversion_type)
    items = [SendItem(layer.label, load=partial(load, layer)) for layer in job.layers]
    items += [_view_item(view, named=named) for view in job.views]
    return send(
        items,
        meta,
        destinations,
        network=config.network,
        outbox_folder=outbox_folder(config),
        syntax=SyntaxChoice.of(job.transfer_syntax, destinations),
        progress=progress,
        object_progress=object_progress,
    )


def retry_layers(
    labels: Mapping[int, str],
    progress: Progress | None = None,
    object_progress: OnProgress | None = None,
) -> SendReport:
    """Send again what waits in the outbox, rows named by ``labels`` (entry id -> layer)."""
    from ..config import load_user_config, outbox_folder
    from ..jobs.send import retry

    config = load_user_config()
    folder = outbox_folder(config)
    return retry(
        folder, config.network, labels=labels, progress=progress, object_progress=object_progress
    )


def _item(layer: LayerSnapshot, *, named: bool, conversion_type: str):
    from ..jobs.send import SendItem
    from .provenance import note_unwritten_spacing

    image = layer.image()
    overrides = dict(image.overrides)
    if named:
        described = layer.label != layer.name  # the slices said, cut to fit a LO
        overrides["series_description"] = (
            layer.label[:SERIES_DESCRIPTION_LENGTH] if described else layer.name
        )
    note_unwritten_spacing(layer, image.image, overrides, conversion_type)
    return SendItem(layer.label, image=image.image, overrides=overrides)


def _view_item(view: RenderedView, *, named: bool):
    """A rendering carries its annotations burned in, whatever its source said."""
    from ..jobs.send import SendItem

    overrides = {"conversion_type": "WSD", "burned_in_annotation": True}
    if named:
        overrides["series_description"] = view.description
    return SendItem(view.name, image=view.image, overrides=overrides)
