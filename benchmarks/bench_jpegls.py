"""JPEG-LS lossless of 16-bit film scans: our encode path against the bare CharLS codec.

    python benchmarks/bench_jpegls.py [--rounds 5] [--profile]

Makes 4 deterministic synthetic film scans (uint16, 12 bits of data: smooth optical density
with collimation edges, grain and noise): three of 2048x2560 and one of 4096x5120. Each
is timed, interleaved round after round (median kept), as:

- ``bare``: ``imagecodecs.jpegls_encode(frame, level=0)``, the codec alone;
- ``set_pixel_data``: ``napari_ezp2p.core.pixels.set_pixel_data`` on an empty dataset;
- ``build_sc``: ``napari_ezp2p.core.sc.build_sc``, the whole Secondary Capture in memory;
- ``build_sc+write``: build_sc then ``core.convert.write_atomically`` (what ``ezp2p
  convert`` does after reading: dcmwrite to a temporary file, fsync, rename).

Overhead = (ours - bare) / bare; the project's goal is under 20 % for build_sc+write.
MB/s counts the raw pixel bytes (1 MB = 10**6 bytes). When the goal is missed, or with
``--profile``, the largest scan's build_sc+write is run under cProfile and the top
functions are printed. This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import imagecodecs
import numpy as np
from PIL import Image
from pydicom import Dataset, dcmread
from pydicom.encaps import generate_frames

from napari_ezp2p.core.convert import write_atomically
from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.pixels import set_pixel_data
from napari_ezp2p.core.sc import build_sc, complete_metadata
from napari_ezp2p.core.transfer import transfer_syntax

SCANS = ((2048, 2560), (2048, 2560), (2048, 2560), (4096, 5120))  # (columns, rows)
GOAL = 0.20
TS = transfer_syntax("jpeg-ls")


def film_scan(columns: int, rows: int, seed: int) -> np.ndarray:
    """A 12-bit film scan in uint16: smooth anatomy-like density, edges, grain, noise."""
    rng = np.random.default_rng(seed)

    def smooth(cells: tuple[int, int]) -> np.ndarray:
        field = Image.fromarray(rng.random(cells, dtype=np.float32))  # mode "F"
        return np.asarray(field.resize((columns, rows), Image.Resampling.BICUBIC))

    y = (np.arange(rows, dtype=np.float32) / rows)[:, None]
    x = (np.arange(columns, dtype=np.float32) / columns)[None, :]
    body = np.exp(-(((x - 0.5) / 0.33) ** 2)) * np.exp(-(((y - 0.55) / 0.45) ** 2))
    density = 600 + 2200 * body + 500 * smooth((6, 5)) + 250 * smooth((40, 32))
    density += 120 * body * np.sin(2 * np.pi * 14 * y + 3 * body)  # rib-like bands
    density += 30 * smooth((rows // 4, columns // 4))  # film grain
    density += 18 * rng.standard_normal((rows, columns), dtype=np.float32)  # scanner noise
    left, right, top, bottom = (
        int(f * n)
        for f, n in zip(
            rng.uniform(0.03, 0.08, size=4), (columns, columns, rows, rows), strict=True
        )
    )
    border = 3700 + 60 * smooth((8, 8))  # clear film outside the collimation
    inside = np.zeros((rows, columns), dtype=bool)
    inside[top : rows - bottom, left : columns - right] = True
    density = np.where(inside, density, border)
    return np.clip(np.rint(density), 0, 4095).astype(np.uint16)


def _timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds; median kept (5)")
    parser.add_argument("--profile", action="store_true", help="always profile build_sc+write")
    parser.add_argument("--workdir", type=Path, help="where to write the temporary files")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    images = []
    for seed, (columns, rows) in enumerate(SCANS):
        pixels = film_scan(columns, rows, seed)
        images.append(SourceImage.from_array(pixels, conversion_type="DF"))
    print(
        f"{len(SCANS)} film scans uint16, bits stored {images[0].bits_stored}, made in "
        f"{time.perf_counter() - start:.1f} s; imagecodecs {imagecodecs.__version__}, "
        f"CharLS {imagecodecs.version(dict).get('charls', '?')}",
        flush=True,
    )
    meta = complete_metadata(Metadata(), datetime.now())

    with tempfile.TemporaryDirectory(prefix="ezp2p-bench-", dir=args.workdir) as tmp:
        folder = Path(tmp)

        def write(image: SourceImage, number: int) -> None:
            ds = build_sc(image, meta, TS, instance_number=number)
            write_atomically(ds, folder / f"scan{number}.dcm")

        def pixel_module(image: SourceImage, _: int) -> None:
            ds = Dataset()
            ds.file_meta = Dataset()
            set_pixel_data(ds, image, TS)

        def bare(image: SourceImage, _: int) -> bytes:
            return imagecodecs.jpegls_encode(image.pixels[0, ..., 0], level=0)

        def bare_out(image: SourceImage, _: int) -> bytes:  # the call core/pixels.py makes
            frame = image.pixels[0, ..., 0]
            return imagecodecs.jpegls_encode(frame, level=0, out=frame.nbytes * 5 // 4 + 4096)

        variants: dict[str, Callable[[SourceImage, int], object]] = {
            "bare": bare,
            "bare, out=": bare_out,
            "set_pixel_data": pixel_module,
            "build_sc": lambda image, n: build_sc(image, meta, TS, instance_number=n),
            "build_sc+write": write,
        }
        names = list(variants)
        times: dict[tuple[int, str], list[float]] = {
            (n, name): [] for n in range(len(images)) for name in names
        }
        cpu: dict[tuple[int, str], list[float]] = {key: [] for key in times}
        for round_number in range(args.rounds):
            shift = round_number % len(names)
            for number, image in enumerate(images):
                for name in names[shift:] + names[:shift]:
                    start, start_cpu = time.perf_counter(), time.process_time()
                    variants[name](image, number)
                    times[number, name].append(time.perf_counter() - start)
                    cpu[number, name].append(time.process_time() - start_cpu)
            print(f"round {round_number + 1}/{args.rounds} done", flush=True)

        sizes = []
        for number, image in enumerate(images):  # lossless round trip, once, untimed
            ds = dcmread(folder / f"scan{number}.dcm")
            stream = next(generate_frames(ds.PixelData, number_of_frames=1))
            if not np.array_equal(imagecodecs.jpegls_decode(stream), image.pixels[0, ..., 0]):
                raise SystemExit(f"scan {number}: JPEG-LS output does not decode to the source")
            sizes.append(len(stream))

        total = report(images, times, sizes, names, args.rounds, "wall-clock time")
        total_cpu = report(images, cpu, sizes, names, args.rounds, "CPU time of this process")
        print(f"\nGoal: build_sc+write under {GOAL:.0%} over the bare codec (all scans, medians)")
        for what, value in (("wall-clock", total), ("CPU time", total_cpu)):
            print(f"  {what:<10}: {value:+.1%} -> {'MET' if value <= GOAL else 'MISSED'}")
        profile(
            lambda: write(images[-1], len(images) - 1),
            full=args.profile or max(total, total_cpu) > GOAL,
        )
    return 0


def _overhead(times: dict, number: int, name: str, pick: Callable = statistics.median) -> float:
    bare = pick(times[number, "bare"])
    return (pick(times[number, name]) - bare) / bare


def report(images, times, sizes, names, rounds, clock) -> float:
    """Print the table; return the median overhead of build_sc+write over all scans."""
    print(
        f"\n=== {clock} ===\n"
        f"{rounds} rounds; ms, MB/s and overhead are medians, 'best' uses each variant's "
        f"fastest round.\nOverhead = (ours - bare) / bare; goal: under {GOAL:.0%}. "
        "MB/s = raw pixel MB (10**6 bytes) per second; ratio = compression ratio."
    )
    header = (
        f"{'scan':<10} {'MB':>5} {'ratio':>5}  {'variant':<15} {'ms':>8} {'best ms':>8} "
        f"{'MB/s':>6} {'overhead':>9} {'best':>8}"
    )
    print(header + "\n" + "-" * len(header))
    totals = dict.fromkeys(names, 0.0)
    for number, image in enumerate(images):
        megabytes = image.pixels.nbytes / 1e6
        label = f"{image.columns}x{image.rows}"
        ratio = f"{image.pixels.nbytes / sizes[number]:.2f}"
        for name in names:
            seconds, best = statistics.median(times[number, name]), min(times[number, name])
            totals[name] += seconds
            over = best_over = ""
            if name != "bare":
                over = f"{_overhead(times, number, name):+.1%}"
                best_over = f"{_overhead(times, number, name, min):+.1%}"
            print(
                f"{label:<10} {megabytes:>5.1f} {ratio:>5}  {name:<15} {1000 * seconds:>8.1f} "
                f"{1000 * best:>8.1f} {megabytes / seconds:>6.1f} {over:>9} {best_over:>8}"
            )
            label = ratio = ""
    all_mb = sum(image.pixels.nbytes for image in images) / 1e6
    print("-" * len(header))
    for name in names:
        over = (totals[name] - totals["bare"]) / totals["bare"]
        print(
            f"{'all 4':<10} {all_mb:>5.1f} {'':>5}  {name:<15} {1000 * totals[name]:>8.1f} "
            f"{'':>8} {all_mb / totals[name]:>6.1f} {'' if name == 'bare' else f'{over:+.1%}':>9}"
        )
    return (totals["build_sc+write"] - totals["bare"]) / totals["bare"]


#: What the profile breakdown looks for: (label, file name ending, function name).
_PARTS = (
    ("CharLS encode (imagecodecs.jpegls_encode)", "pixels.py", "encode"),
    ("pydicom encapsulate (fragment copy)", "encaps.py", "encapsulate"),
    ("rest of build_sc (attributes)", None, None),
    ("pydicom dcmwrite (file write)", "filewriter.py", "dcmwrite"),
    ("os.fsync", "~", "<built-in method posix.fsync>"),
    ("os.replace, mkstemp, rest", None, None),
)


def profile(function: Callable[[], object], full: bool) -> None:
    """Where build_sc+write spends its time on the largest scan, by cProfile."""
    profiler = cProfile.Profile()
    profiler.enable()
    function()
    profiler.disable()
    stats = pstats.Stats(profiler)

    def cumulative(file_end: str, name: str) -> float:
        return sum(
            ct
            for (file, _, function_name), (_, _, _, ct, _) in stats.stats.items()
            if file.endswith(file_end) and function_name == name
        )

    total = cumulative("convert.py", "write_atomically") + cumulative("sc.py", "build_sc")
    build = cumulative("sc.py", "build_sc")
    parts = {label: cumulative(f, n) for label, f, n in _PARTS if f}
    encode, encapsulate = parts[_PARTS[0][0]], parts[_PARTS[1][0]]
    parts[_PARTS[2][0]] = build - encode - encapsulate
    parts[_PARTS[5][0]] = total - build - parts[_PARTS[3][0]] - parts[_PARTS[4][0]]
    print(f"\ncProfile, build_sc+write of the largest scan: {1000 * total:.0f} ms in all")
    for label, _, _ in _PARTS:
        print(f"  {label:<44} {1000 * parts[label]:>7.1f} ms {parts[label] / total:>6.1%}")
    if full:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        print("\nTop functions by own time:")
        print("\n".join(line for line in out.getvalue().splitlines()[4:] if line.strip()))


if __name__ == "__main__":
    sys.exit(main())
