"""How the command shows what happened: progress bars, send reports, query answers."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable

from pydicom import Dataset

from ..net.progress import SENDING, ObjectProgress


class ProgressBars:
    """One progress bar per destination (or scanner) on stderr, when it is a terminal:
    parallel destinations each keep their own line; and one per object being encoded,
    and per object and destination its bytes are sent to."""

    def __init__(self) -> None:
        self._bars: dict[str, object] = {}
        self._lock = threading.Lock()
        self._shown = sys.stderr.isatty()

    def show(self, name: str, done: int, total: int) -> None:
        """``done`` of ``total`` for ``name`` (called from worker threads)."""
        self._show(name, done, total)

    def show_object(self, event: ObjectProgress) -> None:
        """An object's frames encoded or bytes sent (called from worker threads)."""
        scaled = event.stage == SENDING  # bytes, shown in KiB, MiB
        key = f"{event.label} to {event.destination}" if scaled else f"{event.label}: encoding"
        style = {"unit": event.unit, "unit_scale": scaled, "unit_divisor": 1024}
        self._show(key, event.done, event.total, **style)

    def _show(self, key: str, done: int, total: int, **style: object) -> None:
        if not self._shown:
            return
        with self._lock:
            bar = self._bars.get(key)
            if bar is None:
                from tqdm import tqdm

                position = len(self._bars)
                bar = tqdm(
                    total=total, desc=key, position=position, file=sys.stderr, leave=True, **style
                )
                self._bars[key] = bar
            if bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

    def fraction(self, name: str) -> Callable[[float], None]:
        """A progress callback taking the fraction done of ``name``'s work."""
        return lambda fraction: self.show(name, round(fraction * 100), 100)

    def __enter__(self) -> ProgressBars:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for bar in self._bars.values():
            bar.close()


def print_report(report) -> None:
    """The report as the command says it: a line per destination on stdout, then why
    anything was not sent on stderr."""
    if not (report.rows or report.problems):
        print(report.headline(), file=sys.stderr)
    for line in report.lines():
        print(line)
    for reason in report.reasons():
        print(f"ezp2p: {reason}", file=sys.stderr)


def dataset_as_dict(ds: Dataset) -> dict[str, object]:
    """A dataset as JSON-ready values keyed by DICOM keyword: person names as their
    full string (``=`` groups included), several values as a list, sequences as lists."""
    out: dict[str, object] = {}
    for elem in ds:
        key = elem.keyword or str(elem.tag)
        if key == "SpecificCharacterSet":
            continue
        if elem.VR == "SQ":
            out[key] = [dataset_as_dict(item) for item in elem.value]
        elif elem.VM > 1:
            out[key] = [str(value) for value in elem.value]
        else:
            out[key] = "" if elem.value is None else str(elem.value)
    return out


def print_answers(answers: list[Dataset], level: str, as_json: bool) -> None:
    """Query answers as JSON, or as the cells the Study dock shows of them at ``level``
    (see :data:`napari_ezp2p.jobs.query.ROWS`; a series also ends with its Study
    Instance UID), one tab-separated line each."""
    if as_json:
        json.dump([dataset_as_dict(ds) for ds in answers], sys.stdout, ensure_ascii=False)
        print()
        return
    from ..jobs.query import ROWS

    row_of, _ = ROWS[level]
    for ds in answers:
        cells = row_of(ds)
        if level == "series":  # which study each series is in, as for --study-uid
            cells.append(str(ds.get("StudyInstanceUID", "")))
        print("\t".join(cells))
    print(f"{len(answers)} match{'es' if len(answers) != 1 else ''}", file=sys.stderr)
