"""Conversion on every core, and a viewer that never stalls.

    python benchmarks/bench_cores.py [--count 8] [--rounds 3] [--workers 1,2]
                                     [--napari-size 8000] [--syntaxes all|KEY,KEY]
                                     [--skip-convert] [--skip-napari]

1. ``--count`` deterministic 12-bit film scans (4096x5120 uint16 TIFFs, 42 MB each) are
   converted to JPEG-LS Secondary Capture by ``jobs.convert.convert_inputs`` with an
   encoding pool of each ``--workers`` size, round after round (the order rotating; the
   medians kept). Reported: wall-clock, CPU time (this process and its workers, from
   ``getrusage``), parallelism (CPU / wall) and the speed-up over the first size (the
   goal: at least 1.7x on 2 cores over a pool of 1). One output is decoded and compared
   with its source (bit-exact), and a pool's start-up (spawn, imports) is timed alone.
2. A ``--napari-size`` square uint16 layer is sent from the Send dock of a napari viewer
   (under an Xvfb of its own unless there is a display) into dcmtk ``storescp``, in each
   syntax, while a 10 ms timer ticks: the longest gap between two ticks is the longest
   stall of the event loop (the goal: none over 100 ms). Then "Invert grey levels" on
   the same layer.

This is a benchmark, not a test. On a shared machine the times are indicative only.
"""

from __future__ import annotations

import argparse
import atexit
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]  # bench_jpegls; tests.conftest's storescp


def cpu_seconds() -> float:
    """User + system time of this process and of its children waited for."""
    own, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _noop(on_frame=None) -> None:
    return None


def pool_start_up() -> float:
    """Seconds for a pool of one to start and answer one call."""
    from napari_ezp2p.jobs.pool import EncodingPool

    started = time.perf_counter()
    with EncodingPool(1) as pool:
        pool.submit(_noop).result()
    return time.perf_counter() - started


def make_scans(folder: Path, count: int) -> list[Path]:
    from bench_jpegls import film_scan

    paths = []
    for seed in range(count):
        path = folder / f"film-{seed:02d}.tif"
        tifffile.imwrite(path, film_scan(4096, 5120, seed))
        paths.append(path)
    return paths


def bench_convert(work: Path, count: int, rounds: int, sizes: list[int]) -> None:
    from pydicom import dcmread

    from napari_ezp2p.core.metadata import Metadata
    from napari_ezp2p.jobs.convert import convert_inputs
    from napari_ezp2p.jobs.inputs import SyntaxChoice

    scans = make_scans(work, count)
    megabytes = sum(tifffile.imread(p).nbytes for p in scans[:1]) * count / 1e6
    print(f"\n{count} film scans 4096x5120 uint16 ({megabytes:.0f} MB) -> JPEG-LS SC")
    print(f"cores {len(os.sched_getaffinity(0))}, load average {os.getloadavg()[0]:.1f}")
    times: dict[int, list[tuple[float, float]]] = {size: [] for size in sizes}
    for round_ in range(rounds):
        for size in sizes[round_ % len(sizes) :] + sizes[: round_ % len(sizes)]:
            out = work / f"out-{size}-{round_}"
            cpu, wall = cpu_seconds(), time.perf_counter()
            done = list(
                convert_inputs(scans, out, Metadata(), SyntaxChoice.of("jpeg-ls"), workers=size)
            )
            times[size].append((time.perf_counter() - wall, cpu_seconds() - cpu))
            assert all(c.written for c in done), [c.error for c in done if c.error]
            if round_ == 0 and size == sizes[0]:
                decoded = dcmread(done[-1].written).pixel_array
                assert np.array_equal(decoded, tifffile.imread(scans[-1])), "not bit-exact"
            for c in done:
                c.written.unlink()
    base = statistics.median(w for w, _ in times[sizes[0]])
    print("| pool of | wall s | CPU s | parallelism (CPU/wall) | speed-up |")
    print("|---:|---:|---:|---:|---:|")
    for size in sizes:
        wall = statistics.median(w for w, _ in times[size])
        cpu = statistics.median(c for _, c in times[size])
        print(f"| {size} | {wall:.2f} | {cpu:.2f} | {cpu / wall:.2f} | {base / wall:.2f}x |")
    print(f"(medians of {rounds} rounds; load average now {os.getloadavg()[0]:.1f})")
    print(f"pool start-up (spawn, imports, one call): {pool_start_up():.2f} s")


def start_xvfb() -> subprocess.Popen:
    """An X server of our own for the viewer (napari needs OpenGL: no "offscreen")."""
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write,),
    )
    os.close(write)
    with os.fdopen(read) as answer:
        os.environ["DISPLAY"] = ":" + answer.readline().strip()
    atexit.register(server.terminate)
    return server


def bench_napari(work: Path, size: int, keys: list[str]) -> None:
    if not os.environ.get("DISPLAY"):
        start_xvfb()
    import napari
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from napari_ezp2p.config import Config, add_destination, save_config
    from tests.conftest import start_storescp

    scp = start_storescp(work / "storescp")
    config = work / "config.toml"
    save_config(add_destination(Config(), "pacs", scp.destination.address, default=True), config)
    os.environ.update(EZP2P_CONFIG=str(config), EZP2P_OUTBOX=str(work / "outbox"))
    os.environ.pop("EZP2P_AET", None)
    viewer = napari.Viewer(show=False)
    rng = np.random.default_rng(13)
    layer = viewer.add_image(rng.integers(300, 3800, (size, size), dtype=np.uint16), name="film")
    _dock, send = viewer.window.add_plugin_dock_widget("napari-ezp2p", "Send")
    _dock, level = viewer.window.add_plugin_dock_widget("napari-ezp2p", "Window/Level")
    app = QApplication.instance()
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))

    def longest_gap(click, done) -> tuple[float, float]:
        ticks.clear()
        timer.start()
        until = time.monotonic() + 0.1
        while time.monotonic() < until:
            app.processEvents()
        started = time.monotonic()
        click()
        while not done():
            app.processEvents()
            time.sleep(0.002)
        wall = time.monotonic() - started
        until = time.monotonic() + 0.1
        while time.monotonic() < until:
            app.processEvents()
        timer.stop()
        return float(np.diff(ticks).max()), wall

    print(f"\nnapari: a {size}x{size} uint16 layer from the Send dock into storescp")
    print("| syntax | longest event-loop gap ms | send wall s | received |")
    print("|---|---:|---:|---:|")
    try:
        for key in keys:
            send.ts_combo.setCurrentIndex(send.ts_combo.findData(key))
            before = len(scp.received())
            gap, wall = longest_gap(send.send_button.click, send.send_button.isEnabled)
            got = len(scp.received()) - before
            print(f"| {key} | {gap * 1000:.0f} | {wall:.2f} | {got} |")
            for path in scp.received():
                path.unlink()
        source = layer.data
        gap, wall = longest_gap(
            level.invert_button.click,
            lambda: layer.data is not source and level.invert_button.isEnabled(),
        )
        print(f"| Invert grey levels | {gap * 1000:.0f} | {wall:.2f} | - |")
    finally:
        viewer.close()
        scp.peer.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="pool sizes, the first the baseline")
    parser.add_argument("--napari-size", type=int, default=8000)
    parser.add_argument("--syntaxes", default="all", help="keys for the napari send, or all")
    parser.add_argument("--skip-convert", action="store_true")
    parser.add_argument("--skip-napari", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    from napari_ezp2p.core.transfer import TRANSFER_SYNTAXES

    # jpeg-baseline carries 8 bits only: a 16-bit layer is refused, so it is not timed.
    every = [ts.key for ts in TRANSFER_SYNTAXES if ts.key != "jpeg-baseline"]
    keys = every if args.syntaxes == "all" else args.syntaxes.split(",")
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="bench-cores-") as work:
        if not args.skip_convert:
            sizes = [int(n) for n in args.workers.split(",")]
            bench_convert(Path(work), args.count, args.rounds, sizes)
        if not args.skip_napari:
            bench_napari(Path(work), args.napari_size, keys)
    return 0


if __name__ == "__main__":
    sys.exit(main())
