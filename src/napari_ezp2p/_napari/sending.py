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
from .session import LayerSnapshot

NO_DESTINATION = (
    "No PACS to send to: add a destination in the Destinations dock "
    "(Plugins > ezp2p: Print to PACS > Destinations) and make it the default, "
    "or choose one in the Send dock."
)
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
    the layers, the rendered views, the study, the destinations (configured names or
    ``AET@host:port``; none means the configured default) and the transfer syntax key
    ("" to let ``jobs.inputs.SyntaxChoice`` choose)."""

    layers: tuple[LayerSnapshot, ...]
    metadata: Metadata
    destinations: tuple[str, ...] = ()
    transfer_syntax: str = ""
    views: tuple[RenderedView, ...] = ()

    @property
    def labels(self) -> list[str]:
        """What the send's rows show: the layers' names, then the views'."""
        return [layer.name for layer in self.layers] + [view.name for view in self.views]


def send_layers(job: LayerSend, progress: Progress | None = None) -> SendReport:
    """Send the layers and the rendered views, one object each, to the destinations
    through the outbox.

    Blocking (pixels, disk and network): call it off the event loop. The config's
    defaults fill what the study leaves empty, and a layer's name is its series
    description when nothing else gives one. A layer whose pixels cannot be sent fails
    alone. Raises NoDestinationError when neither the job nor the config names a
    destination, and the Ezp2pError of a config or outbox that cannot be used.
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
    items = [SendItem(layer.name, load=partial(load, layer)) for layer in job.layers]
    items += [_view_item(view, named=named) for view in job.views]
    return send(
        items,
        meta,
        destinations,
        network=config.network,
        outbox_folder=outbox_folder(config),
        syntax=SyntaxChoice.of(job.transfer_syntax, destinations),
        progress=progress,
    )


def retry_layers(labels: Mapping[int, str], progress: Progress | None = None) -> SendReport:
    """Send again what waits in the outbox, rows named by ``labels`` (entry id -> layer)."""
    from ..config import load_user_config, outbox_folder
    from ..jobs.send import retry

    config = load_user_config()
    return retry(outbox_folder(config), config.network, labels=labels, progress=progress)


def _item(layer: LayerSnapshot, *, named: bool, conversion_type: str):
    from ..jobs.send import SendItem
    from .provenance import note_unwritten_spacing

    image = layer.image()
    overrides = dict(image.overrides)
    if named:
        overrides["series_description"] = layer.name
    note_unwritten_spacing(layer, image.image, overrides, conversion_type)
    return SendItem(layer.name, image=image.image, overrides=overrides)


def _view_item(view: RenderedView, *, named: bool):
    """A rendering carries its annotations burned in, whatever its source said."""
    from ..jobs.send import SendItem

    overrides = {"conversion_type": "WSD", "burned_in_annotation": True}
    if named:
        overrides["series_description"] = view.description
    return SendItem(view.name, image=view.image, overrides=overrides)
