"""Encoding on every core: the objects of a job made in worker processes, in order.

A compressed syntax (JPEG-LS, JPEG 2000, RLE) costs seconds of CPU per film scan, and some
encoders (pylibjpeg-rle) hold the GIL for a whole frame. :class:`EncodingPool` makes each
object in a worker process, so that a batch scales with the cores and a GUI's event loop
never waits on an encoder. Its workers are started with "spawn" (a threaded process is
never forked), in a context of the pool's own: the process-wide start method is left alone
(CPython's spawn reads it, which settles an unset one on the platform's default). As with
any spawn, a script that runs a job needs the ``if __name__ == "__main__":`` guard.

An image in memory goes to its worker through a temporary file, deleted when its call is
done, and the Pixel Data of the object made comes back through another (pickled, their
bytes would hold the GIL). What a call raises comes back with its
future; ``on_frame(frames encoded, frames)`` is relayed from the worker, on a thread of
the pool's. :class:`InProcess` has the same face
and makes each object at once, where a pool would cost more than it saves (nothing to
compress).
"""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import psutil
from pydicom import Dataset

from ..core.image import DeferredPixels, SourceImage

#: What one worker may hold at once: a film scan decoded, its encoding and their copies.
WORKER_MEMORY = 1 << 30
#: Images in memory of this many bytes or more go to a worker through a temporary file.
SPILL_ABOVE = 4 << 20
#: ``on_frame(frames encoded, frames)``.
OnFrame = Callable[[int, int], None]
T = TypeVar("T")


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_count() -> int:
    """One worker per core, as many as the available memory holds (at least one)."""
    by_memory = psutil.virtual_memory().available // WORKER_MEMORY
    return max(1, min(cores(), by_memory))


class InProcess:
    """Makes each object at once, in the calling thread: :class:`EncodingPool`'s face."""

    workers = 0

    def submit(self, func: Callable[..., T], *args: Any, on_frame: OnFrame | None = None):
        try:
            result = func(*args, on_frame=on_frame)
        except Exception as error:  # noqa: BLE001 - handed over with the future, like a pool's
            return failed_future(error)
        future: Future = Future()
        future.set_result(result)
        return future

    def __enter__(self) -> InProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


class EncodingPool:
    """``workers`` processes (default :func:`worker_count`) making objects: use it as a
    context manager; :meth:`submit` takes a function that accepts ``on_frame=``."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or worker_count()
        context = multiprocessing.get_context("spawn")
        self._frames = context.SimpleQueue()  # (task, frames encoded, frames) from workers
        self._listeners: dict[int, OnFrame] = {}
        self._tasks = itertools.count()
        self._executor = ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_keep_queue, initargs=(self._frames,)
        )
        self._relay = threading.Thread(target=self._relay_frames, daemon=True)
        self._relay.start()

    def submit(self, func: Callable[..., T], *args: Any, on_frame: OnFrame | None = None):
        """``func(*args, on_frame=...)`` in a worker: its future."""
        task = next(self._tasks)
        if on_frame is not None:
            self._listeners[task] = on_frame
        spilled: list[Path] = []
        args = tuple(_spilled(arg, spilled) for arg in args)
        outcome: Future = Future()

        def done(running: Future) -> None:
            for path in spilled:
                path.unlink(missing_ok=True)
            try:
                value = running.result()
                outcome.set_result(value.restored() if isinstance(value, _Returned) else value)
            except BaseException as error:  # noqa: BLE001 - handed over with the future
                outcome.set_exception(error)

        running = self._executor.submit(_run, task, on_frame is not None, func, *args)
        running.add_done_callback(done)
        return outcome

    def _relay_frames(self) -> None:
        while (told := self._frames.get()) is not None:
            task, done, total = told
            listener = self._listeners.get(task)
            if listener is not None:
                if done == total:
                    del self._listeners[task]
                listener(done, total)

    def close(self) -> None:
        """Wait for the calls submitted, then stop the workers and the relay."""
        self._executor.shutdown()
        self._frames.put(None)
        self._relay.join()
        self._frames.close()

    def __enter__(self) -> EncodingPool:
        return self

    def __exit__(self, kind: object, *exc_info: object) -> None:
        if kind is not None:  # interrupted or failed: what has not started never will
            self._executor.shutdown(cancel_futures=True)
        self.close()


def failed_future(error: BaseException) -> Future:
    """A future that raises ``error``: a call that failed before it could be submitted."""
    future: Future = Future()
    future.set_exception(error)
    return future


def pool_for(compressed: bool, workers: int | None = None) -> EncodingPool | InProcess:
    """An :class:`EncodingPool` of ``workers`` for a job that compresses, else
    :class:`InProcess` (a native encoding is a copy: shipping it costs more)."""
    return EncodingPool(workers) if compressed else InProcess()


def in_order(pool: EncodingPool | InProcess, calls: Iterable[Callable[[], T]]) -> Iterator[T]:
    """What each of ``calls`` returns (each submits to ``pool``), in order, calling as many
    ahead as the pool has workers, so that they stay busy while the caller handles each."""
    pending: deque[T] = deque()
    for call in calls:
        pending.append(call())
        if len(pending) > pool.workers:
            yield pending.popleft()
    while pending:
        yield pending.popleft()


def _spilled(arg: T, spilled: list[Path]) -> T:
    """``arg``, or for an image in memory of ``SPILL_ABOVE`` bytes or more, the same image
    reading its pixels from a temporary file (added to ``spilled``): pickling them would
    hold the GIL (a third of a second for 128 MB), writing a file does not. Where the
    file cannot be written, ``arg`` itself."""
    if not isinstance(arg, SourceImage) or not isinstance(arg.data, np.ndarray):
        return arg
    if arg.nbytes < SPILL_ABOVE:
        return arg
    handle, name = tempfile.mkstemp(prefix="ezp2p-pixels-")
    spilled.append(Path(name))
    try:
        with open(handle, "wb") as file:
            file.write(memoryview(np.ascontiguousarray(arg.data)).cast("B"))
    except OSError:  # no room for it: pickled after all
        return arg
    read = partial(_read_pixels, name, arg.shape, arg.dtype.str)
    return dataclasses.replace(arg, data=DeferredPixels(arg.shape, arg.dtype, read))


def _read_pixels(name: str, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    return np.fromfile(name, dtype=dtype).reshape(shape)


_frames_queue = None  # a worker's end of its pool's frame queue


def _keep_queue(frames) -> None:
    global _frames_queue
    _frames_queue = frames


def _tell(task: int, done: int, total: int) -> None:
    _frames_queue.put((task, done, total))


@dataclasses.dataclass(frozen=True)
class _Returned:
    """A worker's data set, its Pixel Data waiting in the file ``path`` (unpickled, the
    bytes would hold the GIL in the GUI process; reading a file does not)."""

    dataset: Dataset
    path: str

    def restored(self) -> Dataset:
        self.dataset["PixelData"].value = Path(self.path).read_bytes()
        Path(self.path).unlink()
        return self.dataset


def _run(task: int, told: bool, func: Callable[..., T], *args: Any) -> T | _Returned:
    made = func(*args, on_frame=partial(_tell, task) if told else None)
    if not isinstance(made, Dataset) or len(made.get("PixelData", b"")) < SPILL_ABOVE:
        return made
    handle, name = tempfile.mkstemp(prefix="ezp2p-object-")
    element = made["PixelData"]
    with open(handle, "wb") as file:
        file.write(element.value)
    element.value = b""
    return _Returned(made, name)
