"""The capture jobs the Capture dock runs in its workers, without Qt: SANE's real test
scanner and real videos (tests/capture/videos.py)."""

from __future__ import annotations

import pytest

from napari_ezp2p.capture.clip import CaptureCancelled, Clip, ClipTooLargeError
from napari_ezp2p.capture.scanner import ScannerError
from napari_ezp2p.capture.video import CaptureError
from napari_ezp2p.core.errors import Ezp2pError
from napari_ezp2p.jobs.capture import (
    feeder_pages,
    grab_frame,
    preview_frames,
    record_clip,
    was_cancelled,
)
from napari_ezp2p.jobs.outcome import Outcome
from tests.capture.videos import FRAMES, HEIGHT, WIDTH, frame_number

SMALL = (0.0, 0.0, 40.0, 30.0)  # left, top, width, height in mm


def run(generator) -> tuple[list, object]:
    """What ``generator`` yields and what it returns."""
    yielded = []
    while True:
        try:
            yielded.append(next(generator))
        except StopIteration as end:
            return yielded, end.value


def test_was_cancelled_tells_a_cancel_from_other_failures():
    assert was_cancelled(Outcome(error=CaptureCancelled("clip: recording cancelled before any")))
    assert was_cancelled(Outcome(error=ScannerError("scan of test:0 cancelled")))
    assert not was_cancelled(Outcome(error=ClipTooLargeError("over the limit")))
    assert not was_cancelled(Outcome(error=Ezp2pError("scanner test:0 is busy")))
    assert not was_cancelled(Outcome("cancelled"))


def test_feeder_pages_yields_each_page_until_the_feeder_is_empty(sane_test_backend):
    outcomes = list(feeder_pages(sane_test_backend, resolution_dpi=50, area_mm=SMALL))
    assert len(outcomes) == 10 and all(o.error is None for o in outcomes)
    assert {(o.value.rows, o.value.conversion_type) for o in outcomes} == {(59, "SD")}


def test_a_cancelled_page_is_the_last_outcome(sane_test_backend):
    outcomes: list[Outcome] = []
    pages = feeder_pages(
        sane_test_backend,
        resolution_dpi=50,
        area_mm=SMALL,
        cancel=lambda: len(outcomes) == 2,  # on the third page
    )
    for outcome in pages:
        outcomes.append(outcome)
    *scanned, last = outcomes
    assert len(scanned) == 2 and all(o.error is None for o in scanned)
    assert was_cancelled(last) and last.message == f"scan of {sane_test_backend} cancelled"


def test_grab_frame_and_record_clip_open_and_close_the_file(videos):
    image = grab_frame(str(videos["lossless"]), False)
    assert image.shape == (1, HEIGHT, WIDTH, 3) and frame_number(image.pixels[0]) == 0
    clip = record_clip(str(videos["lossless"]), False, frames=4)
    assert isinstance(clip, Clip) and [frame_number(f) for f in clip.image.pixels] == [0, 1, 2, 3]
    with pytest.raises(CaptureError, match="no video device /dev/video99"):
        grab_frame("/dev/video99", True)
    with pytest.raises(ClipTooLargeError):
        record_clip(str(videos["lossless"]), False, frames=4, max_bytes=WIDTH * HEIGHT * 3)


def test_a_file_preview_plays_in_order_starts_again_at_its_end_and_stops(videos):
    shown: list[int] = []
    frames = preview_frames(
        str(videos["lossless"]), False, stopped=lambda: len(shown) >= FRAMES + 3, interval=0.0
    )
    while True:
        try:
            shown.append(frame_number(next(frames)))
        except StopIteration as end:
            reason = end.value
            break
    assert shown == [*range(FRAMES), 0, 1, 2] and reason == ""


def test_a_preview_that_fails_returns_the_reason(videos):
    yielded, reason = run(preview_frames("/dev/video99", True, lambda: False, 0.01))
    assert yielded == [] and reason.startswith("no video device /dev/video99")
    yielded, reason = run(preview_frames(str(videos["text"]), False, lambda: False, 0.01))
    assert yielded == [] and "is not a video" in reason
