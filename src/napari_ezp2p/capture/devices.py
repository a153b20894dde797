"""V4L2 capture devices: which ``/dev/video*`` nodes capture video, and their names.

A node is asked what it can do with the ``VIDIOC_QUERYCAP`` ioctl; its name comes from
sysfs when it is there, else from the driver's card name. Opening and reading a device
is :class:`~napari_ezp2p.capture.video.VideoSource`'s work.
"""

from __future__ import annotations

import fcntl
import glob
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

_DEVICE_PATH = re.compile(r"^/dev/video\d+$")
_SYSFS_V4L = Path("/sys/class/video4linux")
# struct v4l2_capability: driver[16] card[32] bus_info[32] version capabilities
# device_caps reserved[3]; VIDIOC_QUERYCAP = _IOR('V', 0, struct v4l2_capability).
_V4L2_CAPABILITY = struct.Struct("=16s32s32sIII12x")
_VIDIOC_QUERYCAP = 0x80685600
_V4L2_CAP_VIDEO_CAPTURE = 0x00000001
_V4L2_CAP_VIDEO_CAPTURE_MPLANE = 0x00001000
_V4L2_CAP_DEVICE_CAPS = 0x80000000


@dataclass(frozen=True)
class VideoDevice:
    """A V4L2 capture device: its node and the name the driver gives it."""

    path: str
    name: str


def is_device_node(path: str) -> bool:
    """Whether ``path`` names a V4L2 node (``/dev/videoN``)."""
    return bool(_DEVICE_PATH.match(path))


def _query_capabilities(path: str) -> tuple[str, int] | None:
    """Card name and V4L2 capabilities of ``path``, or None if it is not a V4L2 node."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        buffer = bytearray(_V4L2_CAPABILITY.size)
        fcntl.ioctl(fd, _VIDIOC_QUERYCAP, buffer)
    except OSError:
        return None
    finally:
        os.close(fd)
    return parse_capabilities(bytes(buffer))


def parse_capabilities(data: bytes) -> tuple[str, int]:
    """Card name and the capabilities that apply to this node from a v4l2_capability."""
    _driver, card, _bus, _version, caps, device_caps = _V4L2_CAPABILITY.unpack(data)
    if caps & _V4L2_CAP_DEVICE_CAPS:
        caps = device_caps
    return card.split(b"\0", 1)[0].decode("utf-8", "replace"), caps


def is_capture(capabilities: int) -> bool:
    """Whether V4L2 ``capabilities`` include video capture (single- or multi-planar)."""
    return bool(capabilities & (_V4L2_CAP_VIDEO_CAPTURE | _V4L2_CAP_VIDEO_CAPTURE_MPLANE))


def list_video_devices(pattern: str = "/dev/video*") -> list[VideoDevice]:
    """The V4L2 nodes matching ``pattern`` that capture video, in number order.

    A node that cannot be opened or queried, or only outputs or carries metadata (a
    webcam's second node), is left out. The name comes from sysfs when it is there.
    """
    devices = []
    nodes = sorted(glob.glob(pattern), key=lambda p: (len(p), p))
    for node in nodes:
        queried = _query_capabilities(node)
        if queried is None or not is_capture(queried[1]):
            continue
        devices.append(VideoDevice(node, _sysfs_name(node) or queried[0] or node))
    return devices


def _sysfs_name(node: str) -> str:
    try:
        return (_SYSFS_V4L / os.path.basename(node) / "name").read_text().strip()
    except OSError:
        return ""


__all__ = ["VideoDevice", "is_device_node", "list_video_devices"]
