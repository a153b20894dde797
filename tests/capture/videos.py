"""Real videos encoded for the capture tests, whose frames say which frame they are.

Every frame carries its number twice: a red gradient shifted by 8 per frame, and the
bits of the number as blue squares along the bottom, so a lossless video tells exactly
which frame came out. No /dev/video* exists on the test machines, so the live (device)
code path is exercised with FFmpeg's ``lavfi`` test source (:data:`LIVE`): it opens
through the same ``av.open(format=...)`` call and runs the same reading code as a V4L2
device.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

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


def make_videos(folder: Path) -> dict[str, Path]:
    """Lossless, lossy and rotated videos in ``folder``, and broken or not-video files."""
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
