"""Video files and devices through PyAV: real videos are encoded here, then read back.

Every frame carries its number twice: a red gradient shifted by 8 per frame, and the
bits of the number as blue squares along the bottom, so a lossless video tells exactly
which frame came out. No /dev/video* exists on the test machines, so the live (device)
code path is exercised with FFmpeg's ``lavfi`` test source: it opens through the same
``av.open(format=...)`` call and runs the same reading code as a V4L2 device.
"""

from __future__ import annotations

import os
import struct
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from pydicom import dcmread

from napari_ezp2p.capture import video
from napari_ezp2p.capture.video import (
    CaptureCancelled,
    CaptureError,
    Clip,
    ClipTooLargeError,
    VideoDevice,
    VideoSource,
    is_video_file,
    list_video_devices,
    read_video,
)
from napari_ezp2p.core.convert import write_atomically
from napari_ezp2p.core.errors import Ezp2pError
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.sc import MULTIFRAME_TRUE_COLOUR, build_sc, complete_metadata
from napari_ezp2p.core.transfer import transfer_syntax
from tests.peers import dciodvfy_errors

FRAMES, WIDTH, HEIGHT, RATE = 32, 64, 48, 25
LOSSY_CODEC = "libx264" if "libx264" in av.codecs_available else "mpeg4"
LIVE = "testsrc=size=64x48:rate=25"


def pattern(number: int) -> np.ndarray:
    """Frame ``number``: a moving red gradient and the number's bits in blue squares."""
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    frame[..., 0] = (np.arange(WIDTH) * 4 + number * 8) % 256
    frame[..., 1] = 100
    for bit in range(6):
        if number >> bit & 1:
            frame[HEIGHT - 8 :, bit * 8 : bit * 8 + 8, 2] = 255
    return frame


def frame_number(rgb: np.ndarray) -> int:
    """The number a lossless frame shows (its exact pattern), or -1."""
    matches = [n for n in range(FRAMES) if np.array_equal(rgb, pattern(n))]
    return matches[0] if len(matches) == 1 else -1


def encode(path: Path, codec: str, pix_fmt: str, *, rotation: int | None = None) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=RATE)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, pix_fmt
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for number in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(pattern(number), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    made = {
        "lossless": encode(folder / "exact clip.mkv", "ffv1", "bgr0"),
        "lossy": encode(folder / "clip.mp4", LOSSY_CODEC, "yuv420p"),
        "rotated": encode(folder / "portrait.mov", "rawvideo", "rgb24", rotation=90),
    }
    data = made["lossy"].read_bytes()
    (folder / "cut.mp4").write_bytes(data[: len(data) // 2])
    data = made["lossless"].read_bytes()
    (folder / "cut.mkv").write_bytes(data[: len(data) // 2])
    (folder / "notes.mp4").write_text("these are not the frames you are looking for\n" * 20)
    av.VideoFrame.from_ndarray(pattern(3), format="rgb24").to_image().save(folder / "still.png")
    made.update(
        truncated_mp4=folder / "cut.mp4",
        truncated_mkv=folder / "cut.mkv",
        text=folder / "notes.mp4",
        png=folder / "still.png",
    )
    return made


# -- files -----------------------------------------------------------------------------


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


def test_record_frames_gives_that_many_frames_40_ms_apart(videos):
    with VideoSource(videos["lossless"]) as source:
        clip = source.record(frames=10)
        more = source.record(frames=5)
    assert isinstance(clip, Clip) and not clip.cancelled
    assert clip.image.shape == (10, HEIGHT, WIDTH, 3) and clip.image.conversion_type == "DV"
    assert [frame_number(f) for f in clip.image.pixels] == list(range(10))
    assert [frame_number(f) for f in more.image.pixels] == list(range(10, 15))
    assert clip.frame_time_ms == pytest.approx(40) and clip.cine_rate == 25
    assert clip.image.lossy_compression is None  # ffv1 is lossless


def test_record_seconds_gives_the_frames_of_that_time(videos):
    with VideoSource(videos["lossy"]) as source:
        clip = source.record(seconds=0.6)
    assert clip.frames == 15 and clip.frame_time_ms == pytest.approx(40)
    method, ratio = clip.image.lossy_compression
    assert method == ("ISO_14496_10" if LOSSY_CODEC == "libx264" else "ISO_14496_2")
    assert ratio > 1


def test_a_files_frame_time_is_the_mean_spacing_of_its_timestamps(tmp_path):
    # Variable frame rate: 16 frames 40 ms apart, then 16 frames 80 ms apart; the stream
    # says 25 fps, but the later clips are slower.
    path = tmp_path / "vfr.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "bgr0"
        stream.codec_context.time_base = stream.time_base = Fraction(1, 1000)
        for number in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(pattern(number), format="rgb24")
            frame.pts = number * 40 if number < 16 else 640 + (number - 16) * 80
            frame.time_base = Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with VideoSource(path) as source:
        assert source.record(frames=10).frame_time_ms == pytest.approx(40)
        assert source.info.frame_rate == RATE
        clip = source.record(frames=10)  # frames 10 to 19: at 400 ms ... 640 ms ... 880 ms
        assert clip.frame_time_ms == pytest.approx((880 - 400) / 9)
        assert source.record().frame_time_ms == pytest.approx(80)  # frames 20 to 31


def test_record_past_the_end_of_a_file_gives_what_is_there(videos):
    with VideoSource(videos["lossless"]) as source:
        source.grab(1.0)  # frame 25: 6 frames remain
        clip = source.record(frames=20)
    assert [frame_number(f) for f in clip.image.pixels] == list(range(26, FRAMES))


def test_progress_is_called_after_every_frame(videos):
    calls = []
    clip = read_video(videos["lossless"], progress=lambda done, total: calls.append((done, total)))
    assert clip.frames == FRAMES
    assert calls == [(n, FRAMES) for n in range(1, FRAMES + 1)]
    calls.clear()
    with VideoSource(videos["lossless"]) as source:
        source.record(frames=4, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_cancel_midway_keeps_every_frame_read_so_far(videos):
    done = []
    with VideoSource(videos["lossless"]) as source:
        clip = source.record(
            frames=30, progress=lambda n, _: done.append(n), cancel=lambda: len(done) >= 7
        )
    assert clip.cancelled and clip.frames == 7
    assert [frame_number(f) for f in clip.image.pixels] == list(range(7))
    assert clip.frame_time_ms == pytest.approx(40)


def test_cancel_before_the_first_frame_says_so(videos):
    with VideoSource(videos["lossless"]) as source, pytest.raises(CaptureCancelled):
        source.record(frames=5, cancel=lambda: True)


def test_read_video_reads_a_whole_file_or_its_first_frames(videos):
    assert read_video(videos["lossless"]).frames == FRAMES
    clip = read_video(videos["lossless"], max_frames=3)
    assert [frame_number(f) for f in clip.image.pixels] == [0, 1, 2]
    assert clip.source == str(videos["lossless"])


def test_a_clip_over_the_size_limit_is_refused_before_reading(videos, monkeypatch):
    frame_bytes = WIDTH * HEIGHT * 3
    monkeypatch.setattr(video, "MAX_CLIP_BYTES", 10 * frame_bytes)
    read = []
    with VideoSource(videos["lossless"]) as source:
        with pytest.raises(ClipTooLargeError, match=r"20 frames .* record at most 10 frames"):
            source.record(frames=20, progress=lambda n, _: read.append(n))
        with pytest.raises(ClipTooLargeError):
            source.record(seconds=1.0)
        assert read == []
        assert frame_number(source.grab().pixels[0]) == 0  # nothing was consumed
        assert source.record(frames=10).frames == 10  # exactly at the limit is fine
    with pytest.raises(ClipTooLargeError, match=r"exact clip\.mkv: a clip of 32 frames"):
        read_video(videos["lossless"])  # the whole file: its frame count is known
    assert read_video(videos["lossless"], max_bytes=FRAMES * frame_bytes).frames == FRAMES
    with pytest.raises(ClipTooLargeError):
        read_video(videos["lossless"], max_bytes=FRAMES * frame_bytes - 1)


def test_rotation_metadata_turns_frames_upright(videos):
    with VideoSource(videos["rotated"]) as source:
        assert source.info.rotation == 90
        assert (source.info.width, source.info.height) == (HEIGHT, WIDTH)
        clip = source.record(frames=4)
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
        source.record()
    with pytest.raises(CaptureError, match=r"cut\.mkv"):
        read_video(videos["truncated_mkv"])


def test_closing_leaves_no_handle_and_refuses_further_reads(videos):
    path = str(videos["lossless"].resolve())

    def open_on_it():
        return [fd for fd in os.listdir("/proc/self/fd") if _target(fd) == path]

    with VideoSource(videos["lossless"]) as source:
        assert open_on_it()
        source.record(frames=2)
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


def test_a_recorded_clip_is_a_valid_multiframe_true_colour_sc(videos, tmp_path):
    clip = read_video(videos["lossy"], max_frames=12)
    meta = complete_metadata(Metadata(frame_time_ms=clip.frame_time_ms), datetime.now())
    ds = build_sc(clip.image, meta, transfer_syntax("explicit-le"))
    path = write_atomically(ds, tmp_path / "clip.dcm")
    assert dciodvfy_errors(path) == []
    written = dcmread(path)
    assert written.SOPClassUID == MULTIFRAME_TRUE_COLOUR
    assert int(written.NumberOfFrames) == 12 and written.ConversionType == "DV"
    assert float(written.FrameTime) == 40 and int(written.CineRate) == 25
    assert written.LossyImageCompression == "01"
    assert np.array_equal(written.pixel_array, clip.image.pixels)


# -- devices ---------------------------------------------------------------------------


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
        clip = source.record(frames=10)
        assert clip.frames == 10 and clip.frame_time_ms == pytest.approx(40)
        assert source.record(seconds=0.2).frames == 5
        assert source.grab().shape == (1, HEIGHT, WIDTH, 3)
        with pytest.raises(CaptureError, match="cannot seek"):
            source.grab(1.0)


def test_a_live_source_records_until_cancelled():
    calls = []
    with VideoSource(LIVE, format="lavfi") as source:
        clip = source.record(
            progress=lambda done, total: calls.append((done, total)),
            cancel=lambda: len(calls) == 6,
        )
    assert clip.cancelled and clip.frames == 6
    assert calls == [(n, None) for n in range(1, 7)]


def test_a_live_recording_stops_as_the_size_limit_would_be_passed():
    calls = []
    source = VideoSource(LIVE, format="lavfi")
    with source, pytest.raises(ClipTooLargeError, match="6 frames of 64x48 reached"):
        source.record(max_bytes=5 * WIDTH * HEIGHT * 3, progress=lambda n, _: calls.append(n))
    assert calls == [1, 2, 3, 4, 5]


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
        raw = video._V4L2_CAPABILITY.pack(
            b"uvcvideo", card.encode(), b"usb", 1, 0x80000000 | device_caps, device_caps
        )
        return video.parse_capabilities(raw)

    sysfs = tmp_path / "sysfs"
    (sysfs / "video0").mkdir(parents=True)
    (sysfs / "video0" / "name").write_text("Integrated Camera: Integrated C\n")
    monkeypatch.setattr(video, "_query_capabilities", query)
    monkeypatch.setattr(video, "_SYSFS_V4L", sysfs)
    assert list_video_devices(str(tmp_path / "video*")) == [
        VideoDevice(str(tmp_path / "video0"), "Integrated Camera: Integrated C"),
        VideoDevice(str(tmp_path / "video10"), str(tmp_path / "video10")),
    ]


def test_parse_capabilities_uses_the_node_capabilities():
    layout = struct.Struct("=16s32s32sIII12x")
    assert layout.size == 104  # sizeof(struct v4l2_capability)
    raw = layout.pack(b"uvcvideo", b"HD Webcam", b"usb-1", 1, 0x84A00001, 0x04A00000)
    name, caps = video.parse_capabilities(raw)
    assert name == "HD Webcam" and not video.is_capture(caps)  # the webcam's metadata node
    raw = layout.pack(b"old", b"Grabber", b"pci", 1, 0x00000001, 0)
    assert video.is_capture(video.parse_capabilities(raw)[1])  # no DEVICE_CAPS flag
