"""Which V4L2 nodes capture video: the real query on plain files, and parsed answers."""

from __future__ import annotations

import struct
from pathlib import Path

from napari_ezp2p.capture import devices
from napari_ezp2p.capture.devices import VideoDevice, list_video_devices


def test_list_video_devices_lists_capture_nodes_with_their_names(tmp_path, monkeypatch):
    assert isinstance(list_video_devices(), list)
    for n in (0, 1, 2, 10):
        (tmp_path / f"video{n}").touch()
    # plain files are no V4L2 nodes: the real query leaves them out
    assert list_video_devices(str(tmp_path / "video*")) == []

    capture, metadata = 0x1, 0x00800000
    caps = {"video0": ("Webcam", capture), "video1": ("Webcam", metadata), "video10": ("", 0x1000)}

    def query(path):
        card, device_caps = caps.get(Path(path).name, (None, None))
        if card is None:
            return None
        raw = devices._V4L2_CAPABILITY.pack(
            b"uvcvideo", card.encode(), b"usb", 1, 0x80000000 | device_caps, device_caps
        )
        return devices.parse_capabilities(raw)

    sysfs = tmp_path / "sysfs"
    (sysfs / "video0").mkdir(parents=True)
    (sysfs / "video0" / "name").write_text("Integrated Camera: Integrated C\n")
    monkeypatch.setattr(devices, "_query_capabilities", query)
    monkeypatch.setattr(devices, "_SYSFS_V4L", sysfs)
    assert list_video_devices(str(tmp_path / "video*")) == [
        VideoDevice(str(tmp_path / "video0"), "Integrated Camera: Integrated C"),
        VideoDevice(str(tmp_path / "video10"), str(tmp_path / "video10")),
    ]


def test_parse_capabilities_uses_the_node_capabilities():
    layout = struct.Struct("=16s32s32sIII12x")
    assert layout.size == 104  # sizeof(struct v4l2_capability)
    raw = layout.pack(b"uvcvideo", b"HD Webcam", b"usb-1", 1, 0x84A00001, 0x04A00000)
    name, caps = devices.parse_capabilities(raw)
    assert name == "HD Webcam" and not devices.is_capture(caps)  # the webcam's metadata node
    raw = layout.pack(b"old", b"Grabber", b"pci", 1, 0x00000001, 0)
    assert devices.is_capture(devices.parse_capabilities(raw)[1])  # no DEVICE_CAPS flag
