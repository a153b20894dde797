"""The pages of a TIFF file, walked within bounds.

tifffile follows a page list that loops back on itself (page A -> B -> A) for ever when
it is iterated, so the image pages are taken one index at a time here: a page whose
offset was seen already, a page past :data:`MAX_PAGES` or a read past
:data:`MAX_SECONDS` ends the walk with a :class:`TiffPagesError`.
"""

from __future__ import annotations

import itertools
import time

import tifffile

MAX_PAGES = 10_000
"""Most pages a TIFF file may have (image, reduced-resolution and mask pages alike)."""
MAX_SECONDS = 120.0
"""Longest time reading one TIFF file may take, checked between pages."""


class TiffPagesError(Exception):
    """A page list that loops, or is over a bound: the cause in plain words."""


class Deadline:
    """The time by which reading one file must end (:data:`MAX_SECONDS` from now)."""

    def __init__(self) -> None:
        self.end = time.monotonic() + MAX_SECONDS

    def check(self) -> None:
        """TiffPagesError when the time is up."""
        if time.monotonic() > self.end:
            raise TiffPagesError(
                f"reading it takes longer than the limit of {MAX_SECONDS:g} seconds"
            )


def image_pages(tiff: tifffile.TiffFile, deadline: Deadline) -> list[tifffile.TiffPage]:
    """The image pages of ``tiff`` in order (reduced-resolution and mask pages left out).

    Raises TiffPagesError when the page list comes back to a page seen before, has more
    than :data:`MAX_PAGES` pages, or ``deadline`` passes.
    """
    seen: dict[int, int] = {}  # page offset: page number
    pages = []
    for index in itertools.count():
        deadline.check()
        try:
            page = tiff.pages[index]
        except IndexError:
            return pages
        if index == MAX_PAGES:
            raise TiffPagesError(f"the TIFF file has more than {MAX_PAGES} pages, the limit")
        if page.offset in seen:
            raise TiffPagesError(
                f"its page list loops: page {index + 1} leads back to page {seen[page.offset]}"
            )
        seen[page.offset] = index + 1
        if not (page.is_reduced or page.is_mask):
            pages.append(page)
