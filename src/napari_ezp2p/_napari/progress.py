"""Progress in napari's activity area, fed from worker threads' reports."""

from __future__ import annotations

from collections.abc import Callable

from napari.utils import progress

from ..net.progress import ENCODING, ObjectProgress


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
    over all of them; and one bar per object being encoded (its frames) and per object
    and destination it is being sent to (its bytes), closed when it is complete.
    Call :meth:`update` and :meth:`show_object` on the main thread (from a signal or a
    worker's ``yielded``)."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.bar = progress(total=0, desc=description)
        self.counts: dict[str, tuple[int, int]] = {}
        self.objects: dict[tuple[str, str, str], progress] = {}  # by stage, label, destination
        self._latest: dict[tuple[str, str, str], ObjectProgress] = {}
        self._redraw = Unnested(self._draw)

    def update(self, name: str, done: int, total: int) -> None:
        self.counts[name] = (done, total)
        self._redraw()

    def show(self, event: tuple[str, int, int] | ObjectProgress) -> None:
        """:meth:`update` with a ``(destination, done, total)``, or :meth:`show_object`."""
        if isinstance(event, ObjectProgress):
            self.show_object(event)
        else:
            self.update(*event)

    def show_object(self, event: ObjectProgress) -> None:
        self._latest[event.stage, event.label, event.destination] = event
        self._redraw()

    def _draw(self) -> None:
        total = sum(t for _, t in self.counts.values())
        if total != self.bar.total:
            self.bar.total = total
            self.bar.set_description(f"{self.description}: {', '.join(self.counts)}")
        self.bar.update(sum(d for d, _ in self.counts.values()) - self.bar.n)
        latest, self._latest = self._latest, {}  # what comes meanwhile waits for the next
        for key, event in latest.items():
            bar = self.objects.get(key)
            if bar is None:
                what = "Encoding" if event.stage == ENCODING else "Sending"
                to = f" to {event.destination}" if event.destination else ""
                bar = progress(total=event.total, desc=f"{what} {event.label}{to}")
                self.objects[key] = bar
            if bar.n != event.done and not bar.disable:
                bar.update(event.done - bar.n)
                if event.done >= event.total:
                    bar.close()

    def close(self) -> None:
        self.bar.close()
        for bar in self.objects.values():
            bar.close()
