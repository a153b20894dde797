"""Video files and devices through PyAV: real videos are encoded here, then read back
(see tests/capture/videos.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from napari_ezp2p.capture.clip import read_video, record
from napari_ezp2p.capture.video import CaptureError, VideoSource, is_video_file
from napari_ezp2p.core.errors import Ezp2pError
from tests.capture.videos import FRAMES, HEIGHT, LIVE, RATE, WIDTH, frame_number, pattern


def test_info_gives_size_rate_length_and_codec(videos):
    with VideoSource(videos["lossless"]) as source:
        info = source.info
    assert (info.width, info.height, info.frame_rate) == (WIDTH, HEIGHT, RATE)
    assert info.frames == FRAMES and info.duration == pytest.approx(FRAMES / RATE)
    assert info.codec == "ffv1" and not info.live and info.rotation == 0
    with VideoSource(str(videos["lossy"])) as source:
        assert (source.info.width, source.info.height) == (WIDTH, HEIGHT)
        assert source.info.frame_rate == RATE and source.info.frames == FRAMES


def test_frames_are_every_frame_in_order_exactly(videos):
    with VideoSource(videos["lossless"]) as source:
        frames = list(source.frames())
    assert len(frames) == FRAMES
    assert all(f.dtype == np.uint8 and f.shape == (HEIGHT, WIDTH, 3) for f in frames)
    assert [frame_number(f) for f in frames] == list(range(FRAMES))


def test_grab_at_a_time_gives_the_frame_shown_then(videos):
    with VideoSource(videos["lossless"]) as source:
        shown = {t: frame_number(source.grab(t).pixels[0]) for t in (0.5, 0.4, 0, 1.24, 0.12)}
        assert shown == {0.5: 12, 0.4: 10, 0: 0, 1.24: 31, 0.12: 3}
        image = source.grab(0.2)
        assert image.shape == (1, HEIGHT, WIDTH, 3) and image.conversion_type == "DV"
        assert frame_number(source.grab().pixels[0]) == 6  # then the next frame
        with pytest.raises(CaptureError, match=r"exact clip\.mkv: 9 s is outside"):
            source.grab(9)


def test_grab_without_a_time_gives_the_first_frame_of_a_new_source(videos):
    with VideoSource(videos["lossless"]) as source:
        assert frame_number(source.grab().pixels[0]) == 0
        assert frame_number(source.grab().pixels[0]) == 1


def test_rotation_metadata_turns_frames_upright(videos):
    with VideoSource(videos["rotated"]) as source:
        assert source.info.rotation == 90
        assert (source.info.width, source.info.height) == (HEIGHT, WIDTH)
        clip = record(source, frames=4)
    assert clip.image.shape == (4, WIDTH, HEIGHT, 3)
    for number, frame in enumerate(clip.image.pixels):
        assert np.array_equal(frame, np.rot90(pattern(number)))


def test_not_a_video_is_a_capture_error_naming_the_file(videos):
    with pytest.raises(CaptureError, match=r"notes\.mp4 is not a video"):
        VideoSource(videos["text"])
    with pytest.raises(CaptureError, match=r"still\.png is a still image"):
        VideoSource(videos["png"])
    with pytest.raises(CaptureError, match="no video file .*missing.mp4: it does not exist"):
        VideoSource(videos["text"].parent / "missing.mp4")
    folder = videos["text"].parent
    with pytest.raises(CaptureError, match=str(folder)):
        VideoSource(folder)


def test_truncated_videos_are_a_capture_error_naming_the_file(videos):
    with pytest.raises(CaptureError, match=r"cut\.mp4 .*damaged"):
        VideoSource(videos["truncated_mp4"])
    source = VideoSource(videos["truncated_mkv"])  # its first frames are there
    with source, pytest.raises(CaptureError, match=r"cut\.mkv: the video is truncated"):
        record(source)
    with pytest.raises(CaptureError, match=r"cut\.mkv"):
        read_video(videos["truncated_mkv"])


def test_closing_leaves_no_handle_and_refuses_further_reads(videos):
    path = str(videos["lossless"].resolve())

    def open_on_it():
        return [fd for fd in os.listdir("/proc/self/fd") if _target(fd) == path]

    with VideoSource(videos["lossless"]) as source:
        assert open_on_it()
        record(source, frames=2)
    assert not open_on_it() and source.closed
    with pytest.raises(CaptureError, match="closed"):
        source.grab()
    source.close()  # twice is fine
    with pytest.raises(CaptureError):
        VideoSource(videos["text"])
    assert not [fd for fd in os.listdir("/proc/self/fd") if _target(fd).endswith("notes.mp4")]


def _target(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def test_is_video_file_is_cheap_and_never_raises(videos, tmp_path):
    for name in ("lossless", "lossy", "rotated"):
        assert is_video_file(videos[name])
    unknown_suffix = tmp_path / "clip.bin"
    unknown_suffix.write_bytes(videos["lossless"].read_bytes())
    assert is_video_file(unknown_suffix)  # by its magic bytes
    assert not is_video_file(videos["text"])
    assert not is_video_file(videos["png"])
    assert not is_video_file(tmp_path / "missing.mp4")
    assert not is_video_file(tmp_path)
    assert not is_video_file(12)  # type: ignore[arg-type]


def test_a_missing_device_is_a_clear_capture_error():
    assert not Path("/dev/video0").exists(), "this test expects a machine without cameras"
    with pytest.raises(CaptureError, match=r"^no video device /dev/video0: it does not exist"):
        VideoSource("/dev/video0")
    with pytest.raises(Ezp2pError):
        VideoSource("/dev/video7", timeout=1)


def test_a_node_that_is_not_a_camera_fails_in_ffmpegs_v4l2_input():
    # /dev/null exists, so this really goes through FFmpeg's v4l2 device, which refuses it.
    with pytest.raises(CaptureError, match=r"^cannot open video device /dev/null: "):
        VideoSource("/dev/null", format="v4l2", timeout=1)


def test_a_live_source_records_by_rate_and_cannot_seek():
    with VideoSource(LIVE, format="lavfi") as source:
        info = source.info
        assert info.live and info.duration is None and info.frames is None
        assert (info.width, info.height, info.frame_rate) == (WIDTH, HEIGHT, RATE)
        clip = record(source, frames=10)
        assert clip.frames == 10 and clip.frame_time_ms == pytest.approx(40)
        assert record(source, seconds=0.2).frames == 5
        assert source.grab().shape == (1, HEIGHT, WIDTH, 3)
        with pytest.raises(CaptureError, match="cannot seek"):
            source.grab(1.0)
