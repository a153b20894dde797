"""Frames of video files and V4L2 capture devices, through PyAV, as SourceImages.

One :class:`VideoSource` reads both: a file path is opened with the container format
FFmpeg detects, a ``/dev/videoN`` path through FFmpeg's ``v4l2`` input device (any other
FFmpeg input can be named with ``format=``, e.g. ``lavfi`` test sources). Everything after
``av.open`` is the same code for files and devices; devices ("live" sources) only differ
in that they cannot seek and have no length. Which devices there are is for
:mod:`~napari_ezp2p.capture.devices` to say; recording a clip is
:mod:`~napari_ezp2p.capture.clip`'s work.

Frames come out as RGB ``uint8`` arrays of ``(rows, columns, 3)``, turned upright when the
file carries a display rotation (the display matrix FFmpeg exposes per frame, as phones
write it). A grabbed frame is a :class:`SourceImage` with Conversion Type DV.

Every failure (missing file or device, not a video, damaged data) is a
:class:`CaptureError` whose message names the file or device.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import Ezp2pError
from ..core.image import SourceImage
from .devices import is_device_node

#: Seconds to wait for a capture device to open and to deliver a frame.
DEVICE_TIMEOUT = 10.0

#: Suffixes of the video files :func:`is_video_file` considers.
# fmt: off
VIDEO_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mov", ".qt", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".m2v", ".ts",
    ".m2ts", ".mts", ".vob", ".wmv", ".asf", ".flv", ".ogv", ".ogg", ".3gp", ".3g2", ".mxf",
    ".dv", ".nut", ".y4m", ".h264", ".264", ".hevc", ".h265", ".ivf",
})
# fmt: on

#: Lossy Image Compression Method of lossy codecs: DICOM's defined terms where there is
#: one, else the codec's standard (a term dciodvfy warns about but accepts).
_LOSSY_METHODS = {
    "h264": "ISO_14496_10",
    "hevc": "ISO_23008_2",
    "mpeg2video": "ISO_13818_2",
    "mjpeg": "ISO_10918_1",
    "mpeg4": "ISO_14496_2",
    "mpeg1video": "ISO_11172_2",
    "h263": "ITU_T_H263",
}


class CaptureError(Ezp2pError):
    """A video file or device that cannot be read (names it and the cause)."""


@dataclass(frozen=True)
class VideoInfo:
    """What a source says about its video, sizes as the frames come out (upright).

    ``frame_rate`` is frames per second (None when the source does not say);
    ``duration`` (seconds) and ``frames`` are None when unknown, always for devices.
    ``rotation`` is the display rotation applied, in degrees counterclockwise.
    """

    width: int
    height: int
    frame_rate: float | None
    duration: float | None
    frames: int | None
    codec: str
    container: str
    rotation: int = 0
    live: bool = False

    @property
    def frame_bytes(self) -> int:
        """Bytes of one decoded RGB frame."""
        return self.width * self.height * 3


def _av():
    """PyAV, imported on first use (it loads the FFmpeg libraries: tens of ms)."""
    try:
        import av
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise CaptureError(f"video needs PyAV (pip install av): {error}") from None
    return av


class VideoSource:
    """A video file or capture device, read frame by frame; use as a context manager.

    ``source`` is a file path or a device node (``/dev/videoN`` opens through ``v4l2``).
    ``format`` forces an FFmpeg input format (``"v4l2"``, ``"lavfi"``, ...) and makes the
    source live (a device) unless it is ``None``; ``options`` are passed to FFmpeg (for a
    device e.g. ``{"video_size": "1280x720", "framerate": "25"}``). ``timeout`` bounds
    the wait for a device (seconds).
    """

    def __init__(
        self,
        source: str | os.PathLike[str],
        *,
        format: str | None = None,  # noqa: A002 - FFmpeg's and PyAV's name for it
        options: dict[str, str] | None = None,
        timeout: float = DEVICE_TIMEOUT,
    ) -> None:
        self.name = os.fspath(source)
        if format is None and is_device_node(self.name):
            format = "v4l2"  # noqa: A001
        self.live = format is not None
        self._container = None
        self._decoder: Iterator | None = None
        self._pending = None
        self._packet_bytes = self._decoded = 0
        self._open(format, options or {}, timeout)

    # -- opening and closing ---------------------------------------------------------

    def _open(self, format: str | None, options: dict[str, str], timeout: float) -> None:  # noqa: A002
        av = _av()
        what = "video device" if format == "v4l2" else "video"
        is_file = not self.live or self.name.startswith("/")
        if is_file and not os.path.exists(self.name):
            kind = "video device" if self.live else "video file"
            raise CaptureError(f"no {kind} {self.name}: it does not exist")
        try:
            self._container = av.open(
                self.name,
                format=format,
                options=options,
                timeout=(timeout, timeout) if self.live else None,
            )
        except av.FFmpegError as error:
            if self.live:
                raise CaptureError(f"cannot open {what} {self.name}: {_reason(error)}") from None
            raise CaptureError(
                f"{self.name} is not a video FFmpeg can read, or a damaged one: {_reason(error)}"
            ) from None
        except OSError as error:
            raise CaptureError(f"cannot open {what} {self.name}: {error.strerror}") from None
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    def _setup(self) -> None:
        container = self._container
        if "_pipe" in container.format.name or container.format.name == "image2":
            raise CaptureError(f"{self.name} is a still image, not a video")
        if not container.streams.video:
            raise CaptureError(f"{self.name} is not a video: it has no video stream")
        stream = self._stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = 0
        self._start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        self._declared_end = _declared_end(stream, self._start)
        self._last_time = None
        self._pending = self._next_av_frame()
        if self._pending is None:
            raise CaptureError(f"{self.name}: no video frame could be decoded")
        self.info = self._make_info(self._pending)

    def _make_info(self, first) -> VideoInfo:
        stream, container = self._stream, self._container
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        frame_rate = float(rate) if rate else None
        duration = frames = None
        if not self.live:
            if stream.duration is not None and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
            frames = stream.frames or (
                round(duration * frame_rate) if duration and frame_rate else None
            )
        rotation = _quarter_turns(first) * 90
        width, height = first.width, first.height
        if rotation % 180:
            width, height = height, width
        return VideoInfo(
            width=width,
            height=height,
            frame_rate=frame_rate,
            duration=duration,
            frames=frames or None,
            codec=stream.codec_context.name,
            container=container.format.name,
            rotation=rotation,
            live=self.live,
        )

    def close(self) -> None:
        """Close the container and its decoder (safe to call twice)."""
        self._pending = None
        if self._decoder is not None:
            self._decoder.close()
            self._decoder = None
        if self._container is not None:
            self._container.close()
            self._container = None

    @property
    def closed(self) -> bool:
        return self._container is None

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VideoSource({self.name!r})"

    # -- decoding --------------------------------------------------------------------

    def _decode(self) -> Iterator:
        for packet in self._container.demux(self._stream):
            self._packet_bytes += packet.size
            yield from packet.decode()

    def _next_av_frame(self):
        """The next decoded frame (an ``av.VideoFrame``), or None at the end."""
        if self._container is None:
            raise CaptureError(f"{self.name}: the video source is closed")
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        av = _av()
        if self._decoder is None:
            self._decoder = self._decode()
        try:
            frame = next(self._decoder)
        except StopIteration:
            self._check_complete()
            return None
        except av.FFmpegError as error:
            self._decoder = None
            raise CaptureError(f"{self.name}: damaged video data: {_reason(error)}") from None
        except OSError as error:  # a device that went away, a read timeout
            self._decoder = None
            raise CaptureError(f"{self.name}: cannot read a frame: {error}") from None
        self._decoded += 1
        if frame.time is not None:
            self._last_time = frame.time
        return frame

    def _check_complete(self) -> None:
        """At the end of a file: raise if its frames stop well before its video does."""
        end = self._declared_end
        if self.live or end is None or self._last_time is None:
            return
        period = 1 / (self.info.frame_rate or 25)
        if self._last_time + period < end - 1.5 * period:
            raise CaptureError(
                f"{self.name}: the video is truncated or damaged: its frames stop at "
                f"{self._last_time - self._start:.2f} s of {end - self._start:.2f} s"
            )

    def _rgb(self, frame) -> np.ndarray:
        """The frame as upright RGB ``uint8``, at the source's first frame size."""
        info = self.info
        width, height = (
            (info.height, info.width) if info.rotation % 180 else (info.width, info.height)
        )
        array = frame.to_ndarray(format="rgb24", width=width, height=height)
        turns = _quarter_turns(frame)
        if turns:
            array = np.rot90(array, turns)
        return np.ascontiguousarray(array)

    def frames(self) -> Iterator[np.ndarray]:
        """RGB ``uint8`` frames ``(rows, columns, 3)`` from where the source is now."""
        for rgb, _time in self.timed_frames():
            yield rgb

    def timed_frames(self) -> Iterator[tuple[np.ndarray, float | None]]:
        """Each frame of :meth:`frames` with its time in seconds (None when it has none)."""
        while (frame := self._next_av_frame()) is not None:
            yield self._rgb(frame), frame.time

    def _seek(self, seconds: float):
        """Position at ``seconds`` from the start; the frame shown then (av.VideoFrame)."""
        if self.live:
            raise CaptureError(f"{self.name}: a live device cannot seek to a time")
        if seconds < 0 or (self.info.duration is not None and seconds > self.info.duration):
            raise CaptureError(
                f"{self.name}: {seconds:g} s is outside the video (0 to "
                f"{self.info.duration or 0:g} s)"
            )
        stream = self._stream
        target = self._start + seconds
        if self._decoder is not None:
            self._decoder.close()
        self._decoder, self._pending = None, None
        av = _av()
        try:
            self._container.seek(
                math.floor(target / stream.time_base), stream=stream, backward=True
            )
        except av.FFmpegError as error:
            raise CaptureError(
                f"{self.name}: cannot seek to {seconds:g} s: {_reason(error)}"
            ) from None
        shown = None
        tolerance = 1e-3
        while (frame := self._next_av_frame()) is not None:
            time = frame.time if frame.time is not None else target
            if time > target + tolerance:
                if shown is None:
                    shown = frame
                else:
                    self._pending = frame
                break
            shown = frame
        if shown is None:
            raise CaptureError(f"{self.name}: no frame at {seconds:g} s")
        return shown

    def grab(self, at_seconds: float | None = None) -> SourceImage:
        """One frame as a single-frame SourceImage (Conversion Type DV).

        ``at_seconds`` (files only) takes the frame shown at that time from the start;
        without it, the next frame (for a device, the one it delivers now).
        """
        frame = self._seek(at_seconds) if at_seconds is not None else self._next_av_frame()
        if frame is None:
            raise CaptureError(f"{self.name}: no more frames to grab")
        return self.as_image(self._rgb(frame)[np.newaxis])

    def as_image(self, pixels: np.ndarray) -> SourceImage:
        """``pixels`` as a DV SourceImage, with the lossy history of a lossy codec.

        The ratio is approximate: decoded RGB bytes over the mean compressed bytes of the
        frames decoded so far.
        """
        lossy = None
        if self._stream.codec_context.codec.lossy:
            ratio = 1.0
            if self._packet_bytes and self._decoded:
                ratio = max(self.info.frame_bytes * self._decoded / self._packet_bytes, 1.0)
            lossy = (lossy_method(self.info.codec), ratio)
        return SourceImage(
            pixels,
            bits_stored=8,
            conversion_type="DV",
            source_format=f"{self.info.codec} video",
            lossy_compression=lossy,
        )


def lossy_method(codec: str) -> str:
    """The Lossy Image Compression Method for a lossy ``codec`` (FFmpeg's name)."""
    if codec in _LOSSY_METHODS:
        return _LOSSY_METHODS[codec]
    return re.sub(r"[^A-Z0-9_ ]", "_", codec.upper())[:16] or "UNKNOWN"


def _declared_end(stream, start: float) -> float | None:
    """When the video stream says it ends (seconds, its own time), if it says so."""
    if stream.duration and stream.time_base:
        return start + float(stream.duration * stream.time_base)
    # Matroska keeps each stream's length in a DURATION tag ("00:00:01.280000000").
    match = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", stream.metadata.get("DURATION", ""))
    if match:
        hours, minutes, seconds = match.groups()
        return start + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return None


def _quarter_turns(frame) -> int:
    """Counterclockwise quarter turns that make ``frame`` upright (its display matrix)."""
    try:
        rotation = frame.rotation
    except (AttributeError, ValueError):  # PyAV older than 14, or a bad matrix
        return 0
    return round((rotation or 0) / 90) % 4


def _reason(error: Exception) -> str:
    """FFmpeg's words for ``error`` without PyAV's repetition of the file name."""
    text = getattr(error, "strerror", None) or str(error)
    return str(text).rstrip(".")


# -- recognising video files ----------------------------------------------------------


def _magic_says_video(head: bytes) -> bool:
    if len(head) >= 12 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
        return True
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska / WebM (EBML)
        return True
    if head.startswith(b"RIFF") and head[8:12] in (b"AVI ", b"AVIX"):
        return True
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):  # MPEG PS / ES
        return True
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):  # ASF / WMV
        return True
    if head.startswith((b"FLV\x01", b"nut/multimedia", b"YUV4MPEG2", b"DKIF")):
        return True
    return len(head) > 188 and head[0] == 0x47 and head[188] == 0x47  # MPEG-TS


def is_video_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` looks like a video file: known magic bytes, or a video suffix and
    a container FFmpeg opens with a video stream (headers only, nothing decoded).
    Never raises."""
    try:
        path = Path(path)
        if not path.is_file():
            return False
        with path.open("rb") as stream:
            head = stream.read(512)
        if _magic_says_video(head):
            return True
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            return False
        av = _av()
        with av.open(str(path)) as container:
            name = container.format.name
            return bool(container.streams.video) and "_pipe" not in name and name != "image2"
    except Exception:  # noqa: BLE001 - "never raises": any failure means "not a video"
        return False


__all__ = [
    "CaptureError",
    "VideoInfo",
    "VideoSource",
    "is_video_file",
]
