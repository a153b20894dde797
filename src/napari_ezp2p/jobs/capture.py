"""Capture jobs: scanning the pages of a feeder, grabbing a frame, recording a clip and
the frames of a live preview, as the Capture dock runs them in worker threads.

Each returns (or yields) plain values or :class:`~napari_ezp2p.jobs.outcome.Outcome`\\ s;
none of them needs Qt or napari.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..capture.clip import CaptureCancelled, Clip, record
from ..capture.scanning import scan_pages
from ..capture.video import VideoSource
from ..core.errors import Ezp2pError
from ..core.image import SourceImage
from .outcome import Outcome, attempt


def was_cancelled(outcome: Outcome) -> bool:
    """Whether ``outcome`` failed because its job was cancelled."""
    return isinstance(outcome.error, CaptureCancelled) or (
        outcome.error is not None and outcome.message.endswith("cancelled")
    )


def feeder_pages(device: str, **scan_args: Any) -> Iterator[Outcome]:
    """Each page of ``device``'s document feeder as an Outcome, as it is scanned; one
    that failed (a jam, a cancel) is the last."""
    pages = scan_pages(device, **scan_args)
    while True:
        outcome = attempt(next, pages, None)
        if outcome.value is None and outcome.error is None:
            return  # the feeder is empty
        yield outcome
        if outcome.error is not None:
            return


def open_video(path: str, live: bool) -> VideoSource:
    """A file, or a device through V4L2 (whatever its node is called)."""
    return VideoSource(path, format="v4l2" if live else None)


def grab_frame(path: str, live: bool) -> SourceImage:
    """The first frame of a file, or the frame a device delivers now."""
    with open_video(path, live) as source:
        return source.grab()


def record_clip(path: str, live: bool, **record_args: Any) -> Clip:
    """A clip from the start of a file, or from now on a device (see capture.clip.record)."""
    with open_video(path, live) as source:
        return record(source, **record_args)


def preview_frames(
    path: str, live: bool, stopped: Callable[[], bool], interval: float
) -> Iterator[np.ndarray]:
    """Frames to show, at most one each ``interval`` seconds, until ``stopped()``.

    A file plays at about its own speed (frames skipped to keep the rate) and starts
    again at its end; a device is read continuously and every frame it delivers after
    ``interval`` is shown. Returns (the worker's ``returned``) the reason it ended:
    empty when stopped, else the error.
    """
    try:
        while not stopped():
            with open_video(path, live) as source:
                rate = source.info.frame_rate
                step = max(1, round(rate * interval)) if rate and not live else 1
                shown = 0.0
                for number, frame in enumerate(source.frames()):
                    if stopped():
                        return ""
                    if live:
                        now = time.monotonic()
                        if now - shown >= interval:
                            shown = now
                            yield frame
                    elif number % step == 0:
                        yield frame
                        time.sleep(interval)
            if live:
                return f"{path}: the device stopped delivering frames"
    except Ezp2pError as error:
        return str(error)
    return ""
