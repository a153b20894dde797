"""Recording clips from real videos (see tests/capture/videos.py) and from a live source."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

import av
import numpy as np
import pytest
from pydicom import dcmread

from napari_ezp2p.capture import clip as clip_module
from napari_ezp2p.capture.clip import (
    CaptureCancelled,
    Clip,
    ClipTooLargeError,
    read_video,
    record,
)
from napari_ezp2p.capture.video import VideoSource
from napari_ezp2p.core.convert import write_atomically
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.sc import MULTIFRAME_TRUE_COLOUR, build_sc, complete_metadata
from napari_ezp2p.core.transfer import transfer_syntax
from tests.capture.videos import (
    FRAMES,
    HEIGHT,
    LIVE,
    LOSSY_CODEC,
    RATE,
    WIDTH,
    frame_number,
    pattern,
)
from tests.peers import dciodvfy_errors


def test_record_frames_gives_that_many_frames_40_ms_apart(videos):
    with VideoSource(videos["lossless"]) as source:
        clip = record(source, frames=10)
        more = record(source, frames=5)
    assert isinstance(clip, Clip) and not clip.cancelled
    assert clip.image.shape == (10, HEIGHT, WIDTH, 3) and clip.image.conversion_type == "DV"
    assert [frame_number(f) for f in clip.image.pixels] == list(range(10))
    assert [frame_number(f) for f in more.image.pixels] == list(range(10, 15))
    assert clip.frame_time_ms == pytest.approx(40) and clip.cine_rate == 25
    assert clip.image.lossy_compression is None  # ffv1 is lossless


def test_record_seconds_gives_the_frames_of_that_time(videos):
    with VideoSource(videos["lossy"]) as source:
        clip = record(source, seconds=0.6)
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
        assert record(source, frames=10).frame_time_ms == pytest.approx(40)
        assert source.info.frame_rate == RATE
        clip = record(source, frames=10)  # frames 10 to 19: at 400 ms ... 640 ms ... 880 ms
        assert clip.frame_time_ms == pytest.approx((880 - 400) / 9)
        assert record(source).frame_time_ms == pytest.approx(80)  # frames 20 to 31


def test_record_past_the_end_of_a_file_gives_what_is_there(videos):
    with VideoSource(videos["lossless"]) as source:
        source.grab(1.0)  # frame 25: 6 frames remain
        clip = record(source, frames=20)
    assert [frame_number(f) for f in clip.image.pixels] == list(range(26, FRAMES))


def test_progress_is_called_after_every_frame(videos):
    calls = []
    clip = read_video(videos["lossless"], progress=lambda done, total: calls.append((done, total)))
    assert clip.frames == FRAMES
    assert calls == [(n, FRAMES) for n in range(1, FRAMES + 1)]
    calls.clear()
    with VideoSource(videos["lossless"]) as source:
        record(source, frames=4, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_cancel_midway_keeps_every_frame_read_so_far(videos):
    done = []
    with VideoSource(videos["lossless"]) as source:
        clip = record(
            source, frames=30, progress=lambda n, _: done.append(n), cancel=lambda: len(done) >= 7
        )
    assert clip.cancelled and clip.frames == 7
    assert [frame_number(f) for f in clip.image.pixels] == list(range(7))
    assert clip.frame_time_ms == pytest.approx(40)


def test_cancel_before_the_first_frame_says_so(videos):
    with VideoSource(videos["lossless"]) as source, pytest.raises(CaptureCancelled):
        record(source, frames=5, cancel=lambda: True)


def test_read_video_reads_a_whole_file_or_its_first_frames(videos):
    assert read_video(videos["lossless"]).frames == FRAMES
    clip = read_video(videos["lossless"], max_frames=3)
    assert [frame_number(f) for f in clip.image.pixels] == [0, 1, 2]
    assert clip.source == str(videos["lossless"])


def test_a_clip_over_the_size_limit_is_refused_before_reading(videos, monkeypatch):
    frame_bytes = WIDTH * HEIGHT * 3
    monkeypatch.setattr(clip_module, "MAX_CLIP_BYTES", 10 * frame_bytes)
    read = []
    with VideoSource(videos["lossless"]) as source:
        with pytest.raises(ClipTooLargeError, match=r"20 frames .* record at most 10 frames"):
            record(source, frames=20, progress=lambda n, _: read.append(n))
        with pytest.raises(ClipTooLargeError):
            record(source, seconds=1.0)
        assert read == []
        assert frame_number(source.grab().pixels[0]) == 0  # nothing was consumed
        assert record(source, frames=10).frames == 10  # exactly at the limit is fine
    with pytest.raises(ClipTooLargeError, match=r"exact clip\.mkv: a clip of 32 frames"):
        read_video(videos["lossless"])  # the whole file: its frame count is known
    assert read_video(videos["lossless"], max_bytes=FRAMES * frame_bytes).frames == FRAMES
    with pytest.raises(ClipTooLargeError):
        read_video(videos["lossless"], max_bytes=FRAMES * frame_bytes - 1)


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


def test_a_live_source_records_until_cancelled():
    calls = []
    with VideoSource(LIVE, format="lavfi") as source:
        clip = record(
            source,
            progress=lambda done, total: calls.append((done, total)),
            cancel=lambda: len(calls) == 6,
        )
    assert clip.cancelled and clip.frames == 6
    assert calls == [(n, None) for n in range(1, 7)]


def test_a_live_recording_stops_as_the_size_limit_would_be_passed():
    calls = []
    source = VideoSource(LIVE, format="lavfi")
    with source, pytest.raises(ClipTooLargeError, match="6 frames of 64x48 reached"):
        record(source, max_bytes=5 * WIDTH * HEIGHT * 3, progress=lambda n, _: calls.append(n))
    assert calls == [1, 2, 3, 4, 5]
