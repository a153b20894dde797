"""The marker segments of a JPEG stream, and the stream without the ones that carry
no image: EXIF (GPS position, maker notes, thumbnails), XMP, ICC, comments."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

#: Markers with no length field: TEM and the restart markers.
STANDALONE = {0x01, *range(0xD0, 0xD8)}
_SOS, _EOI, _COM = 0xDA, 0xD9, 0xFE


class Segment(NamedTuple):
    marker: int
    start: int  # offset of the 0xFF of the marker
    end: int  # offset just past the segment (for SOS: past its header, not its scan)

    def body(self, stream: bytes) -> bytes:
        """The segment's bytes after its marker and length."""
        return stream[self.start + 4 : self.end]


def segments(stream: bytes) -> Iterator[Segment]:
    """The marker segments of ``stream`` from SOI, through every scan, to EOI.

    Stops early at bytes that are not a marker where one must be. Scan data is
    skipped: a 0xFF in it is followed by 0x00 (stuffing) or a restart marker.
    """
    if stream[:2] != b"\xff\xd8":
        return
    yield Segment(0xD8, 0, 2)
    pos = 2
    while pos + 2 <= len(stream):
        if stream[pos] != 0xFF:
            return
        marker = stream[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in STANDALONE or marker == _EOI:
            yield Segment(marker, pos, pos + 2)
            if marker == _EOI:
                return
            pos += 2
            continue
        if pos + 4 > len(stream):
            return
        end = pos + 2 + int.from_bytes(stream[pos + 2 : pos + 4], "big")
        yield Segment(marker, pos, end)
        pos = _after_scan(stream, end) if marker == _SOS else end


def _after_scan(stream: bytes, pos: int) -> int:
    """The offset of the first marker after the entropy-coded data starting at ``pos``."""
    while (pos := stream.find(b"\xff", pos)) != -1 and pos + 1 < len(stream):
        following = stream[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            pos += 2
        elif following == 0xFF:  # fill bytes before a marker
            pos += 1
        else:
            return pos
    return len(stream)


def _needed(marker: int, body: bytes) -> bool:
    """Whether a decoder needs the segment: all but APPn and COM, save JFIF and Adobe."""
    if marker == 0xE0:
        return body.startswith(b"JFIF\0")
    if marker == 0xEE:
        return body.startswith(b"Adobe")
    return not (0xE1 <= marker <= 0xEF or marker == _COM)


def without_metadata(stream: bytes) -> bytes:
    """``stream`` without its APPn segments (but JFIF APP0 and Adobe APP14) and COM
    segments, and without anything after EOI; its scans stay byte for byte."""
    kept, last = [], 0
    for segment in segments(stream):
        if not _needed(segment.marker, segment.body(stream)):
            kept.append(stream[last : segment.start])
            last = segment.end
        elif segment.marker == _EOI:
            kept.append(stream[last : segment.end])
            return b"".join(kept)
    kept.append(stream[last:])
    return b"".join(kept)
