"""Progress in napari's activity area, fed from worker threads' reports."""

from __future__ import annotations

from collections.abc import Callable

from napari.utils import progress


class Unnested:
    """Calls ``show()`` (which shows the newest state) but never from inside itself.

    napari's progress bar calls ``QApplication.processEvents()`` when its value changes,
    which delivers the next progress signal in the middle of the update: a burst of them
    nested one in another until the Python stack ran out. A call that arrives while
    ``show`` runs only makes it run once more afterwards.
    """

    def __init__(self, show: Callable[[], None]) -> None:
        self.show = show
        self.running = False
        self.again = False

    def __call__(self) -> None:
        self.again = True
        if self.running:
            return
        self.running = True
        try:
            while self.again:
                self.again = False
                self.show()
        finally:
            self.running = False


class SendProgress:
    """One napari progress bar for a send to several destinations: the instances done
    over all of them. Call :meth:`update` on the main thread (from a signal or a
    worker's ``yielded``)."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.bar = progress(total=0, desc=description)
        self.counts: dict[str, tuple[int, int]] = {}
        self._redraw = Unnested(self._draw)

    def update(self, name: str, done: int, total: int) -> None:
        self.counts[name] = (done, total)
        self._redraw()

    def _draw(self) -> None:
        total = sum(t for _, t in self.counts.values())
        if total != self.bar.total:
            self.bar.total = total
            self.bar.set_description(f"{self.description}: {', '.join(self.counts)}")
        self.bar.update(sum(d for d, _ in self.counts.values()) - self.bar.n)

    def close(self) -> None:
        self.bar.close()
