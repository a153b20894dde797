"""Recording a clip from a :class:`~napari_ezp2p.capture.video.VideoSource`.

A recorded :class:`Clip` is one multi-frame :class:`SourceImage` (Conversion Type DV)
with its frame time in ms, which becomes Frame Time and Cine Rate of a Multi-frame True
Colour SC. A file's frame time is the mean spacing of its frames' timestamps; a device's
comes from the stream's frame rate. A clip whose pixels would pass
:data:`MAX_CLIP_BYTES` is refused before it is read where its length is known, and as
soon as the running total would pass the limit otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..core.image import SourceImage
from .video import CaptureError, VideoSource

#: The largest clip (decoded RGB pixels, bytes) recorded unless a call says otherwise.
MAX_CLIP_BYTES = 2 * 1024**3


class ClipTooLargeError(CaptureError):
    """A clip whose decoded pixels would pass the size limit."""


class CaptureCancelled(CaptureError):
    """Recording cancelled before a single frame was read (nothing to keep)."""


@dataclass(frozen=True)
class Clip:
    """Recorded frames as one multi-frame SourceImage (Conversion Type DV).

    ``frame_time_ms`` is the time between frames; ``cancelled`` says recording was
    stopped by its ``cancel`` callback (the frames read until then are all here).
    ``source`` names the file or device.
    """

    image: SourceImage
    frame_time_ms: float
    cancelled: bool = False
    source: str = ""

    @property
    def frames(self) -> int:
        return self.image.frames

    @property
    def cine_rate(self) -> int:
        return round(1000 / self.frame_time_ms)


def record(
    source: VideoSource,
    *,
    frames: int | None = None,
    seconds: float | None = None,
    progress: Callable[[int, int | None], object] | None = None,
    cancel: Callable[[], bool] | None = None,
    max_bytes: int | None = None,
) -> Clip:
    """Read a clip of ``frames`` frames or ``seconds`` seconds from where ``source`` is.

    With neither, a file is read to its end and a device until ``cancel`` says so.
    A file that ends sooner gives a shorter clip. ``progress(done, total)`` is called
    after each frame (``total`` None when unknown). ``cancel()`` returning True stops
    recording and the clip keeps every frame read so far (``Clip.cancelled``); raises
    CaptureCancelled if that happens before the first frame.

    A clip larger than ``max_bytes`` (default :data:`MAX_CLIP_BYTES`) raises
    ClipTooLargeError: before reading anything when the length is known (given, or a
    file's frame count), else as soon as the next frame would pass the limit.
    """
    if frames is not None and seconds is not None:
        raise ValueError("record() takes frames or seconds, not both")
    limit = MAX_CLIP_BYTES if max_bytes is None else max_bytes
    info = source.info
    total = _frames_wanted(source, frames, seconds)
    expected = total
    if not source.live and info.frames is not None:  # a file has no more than its frames
        expected = info.frames if total is None else min(total, info.frames)
    frame_bytes = info.frame_bytes
    if expected is not None and expected * frame_bytes > limit:
        raise ClipTooLargeError(_too_large(source, expected, limit, "would be"))

    # Frames go straight into one array when their number is known (no copy at the
    # end); more than expected (an inexact estimate, a device) are stacked after.
    buffer = np.empty((expected or 0, info.height, info.width, 3), np.uint8)
    extra: list[np.ndarray] = []
    times: list[float] = []
    done, cancelled = 0, False
    frames_read = source.timed_frames()
    while total is None or done < total:
        if cancel is not None and cancel():
            cancelled = True
            break
        frame = next(frames_read, None)
        if frame is None:
            break
        if (done + 1) * frame_bytes > limit:
            raise ClipTooLargeError(_too_large(source, done + 1, limit, "reached"))
        rgb, time = frame
        if done < len(buffer):
            buffer[done] = rgb
        else:
            extra.append(rgb)
        if time is not None:
            times.append(time)
        done += 1
        if progress is not None:
            progress(done, expected)
    if done == 0:
        if cancelled:
            raise CaptureCancelled(f"{source.name}: recording cancelled before any frame")
        raise CaptureError(f"{source.name}: no frames left to record")
    if extra:
        pixels = np.concatenate([buffer, np.stack(extra)]) if len(buffer) else np.stack(extra)
    else:
        pixels = buffer if done == len(buffer) else buffer[:done].copy()
    del buffer, extra
    image = source.as_image(pixels)
    return Clip(image, _frame_time_ms(source, times), cancelled=cancelled, source=source.name)


def _frames_wanted(source: VideoSource, frames: int | None, seconds: float | None) -> int | None:
    if frames is not None:
        if frames < 1:
            raise ValueError(f"frames must be at least 1, got {frames}")
        return int(frames)
    if seconds is not None:
        if seconds <= 0:
            raise ValueError(f"seconds must be positive, got {seconds}")
        if not source.info.frame_rate:
            raise CaptureError(
                f"{source.name}: the frame rate is unknown; record a number of frames"
            )
        return max(1, round(seconds * source.info.frame_rate))
    return None


def _too_large(source: VideoSource, count: int, limit: int, verb: str) -> str:
    info = source.info
    fits = limit // info.frame_bytes
    return (
        f"{source.name}: a clip of {count} frames of {info.width}x{info.height} "
        f"{verb} {count * info.frame_bytes / 2**20:.0f} MiB, over the limit of "
        f"{limit / 2**20:.0f} MiB; record at most {fits} frames "
        f"(or raise the limit)"
    )


def _frame_time_ms(source: VideoSource, times: list[float]) -> float:
    """Files: mean spacing of the frames' timestamps; devices: the stream's rate."""
    rate = source.info.frame_rate
    if not source.live and len(times) > 1 and times[-1] > times[0]:
        return (times[-1] - times[0]) / (len(times) - 1) * 1000
    if rate:
        return 1000 / rate
    if len(times) > 1 and times[-1] > times[0]:
        return (times[-1] - times[0]) / (len(times) - 1) * 1000
    raise CaptureError(f"{source.name}: neither a frame rate nor timestamps to time frames")


def read_video(
    path: str | os.PathLike[str],
    max_frames: int | None = None,
    *,
    max_bytes: int | None = None,
    progress: Callable[[int, int | None], object] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Clip:
    """The frames of a video file (at most ``max_frames``) as a Clip."""
    with VideoSource(path) as source:
        return record(
            source, frames=max_frames, progress=progress, cancel=cancel, max_bytes=max_bytes
        )


__all__ = [
    "MAX_CLIP_BYTES",
    "CaptureCancelled",
    "Clip",
    "ClipTooLargeError",
    "read_video",
    "record",
]
