"""Batch JPEG -> DICOM Secondary Capture: ``ezp2p convert`` side by side with dcmtk ``img2dcm``.

    python benchmarks/bench_convert.py [--count 100] [--rounds 3] [--per-file-sample 10]

Generates ``--count`` deterministic JPEG photos (1024x768, baseline, 4:2:0, quality 90) in a
temporary folder, then times, round after round in the same run (the order of the tools
rotates each round; each job's median is reported, in wall-clock and in the CPU time of
its processes, which is steadier on a shared machine):

- ``ezp2p convert ALL -o OUT --ts jpeg-baseline``: one process for the whole batch, as a
  user runs it (the JPEG bytes are encapsulated as they are: passthrough);
- ``img2dcm IN OUT`` once per file (it takes one image per call): ``--count`` processes;
- ``ezp2p convert IN -o OUT --ts jpeg-baseline`` once per file, for a like-for-like
  per-file comparison. Python's start-up makes this slow, so by default only
  ``--per-file-sample`` files are run per round and the per-file cost is projected to
  ``--count`` files (``--per-file-sample 0`` runs them all).

The speed ratio is throughput ours / throughput img2dcm (= img2dcm seconds / our seconds):
above 1 we are faster, below 1 img2dcm is. This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

WIDTH, HEIGHT = 1024, 768
QUALITY = 90


# --- input photos --------------------------------------------------------------------


def _scenes() -> tuple[list[np.ndarray], str]:
    """Source pictures: scikit-image's bundled photos, else smooth synthetic scenes."""
    try:
        from skimage import data
    except ImportError:
        return [_synthetic_scene(seed) for seed in range(3)], "synthetic scenes"
    photos = [data.astronaut(), data.chelsea(), data.coffee()]
    return photos, "skimage astronaut/chelsea/coffee"


def _synthetic_scene(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows, cols = 480, 640
    y, x = np.mgrid[0:rows, 0:cols] / max(rows, cols)
    scene = np.zeros((rows, cols, 3))
    for _ in range(12):
        centre, radius = rng.random(2), 0.05 + 0.25 * rng.random()
        blob = np.exp(-((x - centre[1]) ** 2 + (y - centre[0]) ** 2) / (2 * radius**2))
        scene += blob[..., None] * rng.random(3) * 200
    scene += 40 * (x[..., None] * rng.random(3) + y[..., None] * rng.random(3))
    return np.clip(scene, 0, 255).astype(np.uint8)


def make_photos(folder: Path, count: int) -> tuple[list[Path], str]:
    """``count`` JPEG files: random crops, zooms, flips and exposure of the scenes, plus noise."""
    scenes, what = _scenes()
    rng = np.random.default_rng(20261129)
    paths = []
    for number in range(count):
        scene = scenes[number % len(scenes)]
        rows, cols = scene.shape[:2]
        zoom = max(WIDTH / cols, HEIGHT / rows) * rng.uniform(1.0, 1.35)
        box_w, box_h = WIDTH / zoom, HEIGHT / zoom
        left, top = rng.uniform(0, cols - box_w), rng.uniform(0, rows - box_h)
        picture = Image.fromarray(scene).resize(
            (WIDTH, HEIGHT), Image.Resampling.BICUBIC, box=(left, top, left + box_w, top + box_h)
        )
        pixels = np.asarray(picture, dtype=np.float32)
        if rng.random() < 0.5:
            pixels = pixels[:, ::-1]
        gain = rng.uniform(0.85, 1.15, size=3).astype(np.float32)
        pixels = pixels * gain + 2.5 * rng.standard_normal(pixels.shape, dtype=np.float32)
        path = folder / f"photo{number:03d}.jpg"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
            path, "JPEG", quality=QUALITY, subsampling="4:2:0", progressive=False, optimize=False
        )
        paths.append(path)
    return paths, what


# --- the commands --------------------------------------------------------------------


def ezp2p_command() -> list[str]:
    """The ``ezp2p`` console script next to this interpreter, else ``python -m``."""
    script = Path(sys.executable).with_name("ezp2p")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "napari_ezp2p.cli"]


def _run(command: Sequence[str]) -> None:
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command[:4])}…\n{done.stderr}")


def ours_batch(ezp2p: list[str], paths: Sequence[Path], out: Path) -> None:
    _run([*ezp2p, "convert", *map(str, paths), "-o", str(out), "--ts", "jpeg-baseline"])


def ours_per_file(ezp2p: list[str], paths: Sequence[Path], out: Path) -> None:
    for path in paths:
        _run([*ezp2p, "convert", str(path), "-o", str(out), "--ts", "jpeg-baseline"])


def img2dcm_per_file(img2dcm: str, paths: Sequence[Path], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        _run([img2dcm, str(path), str(out / f"{path.stem}.dcm")])


# --- checks --------------------------------------------------------------------------


def check_outputs(ours: Path, theirs: Path, source: Path) -> list[str]:
    """Prove that both tools encapsulate the JPEG (no decode/re-encode); lines to print."""
    from pydicom import dcmread
    from pydicom.encaps import generate_frames

    original = source.read_bytes()
    lines = []
    ds = dcmread(ours / f"{source.stem}.dcm")
    frames = list(generate_frames(ds.PixelData, number_of_frames=1))
    padded = original + b"\0" * (len(original) % 2)  # fragments have an even length
    if len(frames) != 1 or frames[0] != padded:
        raise SystemExit(f"ezp2p did not pass {source.name} through: the benchmark is invalid")
    lines.append(
        f"ezp2p  : TS {ds.file_meta.TransferSyntaxUID} ({ds.file_meta.TransferSyntaxUID.name}), "
        f"{ds.PhotometricInterpretation}; the frame's fragment == the source JPEG bytes "
        f"({len(original)} bytes): passthrough OK"
    )
    ds = dcmread(theirs / f"{source.stem}.dcm")
    fragment = next(generate_frames(ds.PixelData, number_of_frames=1)).rstrip(b"\0")
    same_scan = fragment[fragment.rfind(b"\xff\xda") :] == original[original.rfind(b"\xff\xda") :]
    lines.append(
        f"img2dcm: TS {ds.file_meta.TransferSyntaxUID} ({ds.file_meta.TransferSyntaxUID.name}), "
        f"{ds.PhotometricInterpretation}; {len(fragment)} bytes, entropy-coded scan "
        f"{'identical to' if same_scan else 'DIFFERENT from'} the source (it drops the JFIF APP0)"
    )
    return lines


def in_process_breakdown(paths: Sequence[Path], out: Path) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds per file in read_image, build_sc and write_atomically, in-process.

    With passthrough, read_image reads only the JPEG's header and build_sc never decodes
    it; write_atomically's wall time includes its fsync.
    """
    from napari_ezp2p.core.convert import free_name, write_atomically
    from napari_ezp2p.core.imageio import read_image
    from napari_ezp2p.core.metadata import Metadata
    from napari_ezp2p.core.sc import build_sc, complete_metadata
    from napari_ezp2p.core.transfer import transfer_syntax

    ts = transfer_syntax("jpeg-baseline")
    meta = complete_metadata(Metadata(), __import__("datetime").datetime.now())
    out.mkdir(parents=True, exist_ok=True)
    spent = {name: np.zeros(2) for name in ("read_image", "build_sc", "write_atomically")}

    def now() -> np.ndarray:
        return np.array([time.perf_counter(), time.process_time()])

    for number, path in enumerate(paths, start=1):
        start = now()
        image = read_image(path)
        read = now()
        ds = build_sc(image, meta, ts, instance_number=number)
        built = now()
        write_atomically(ds, free_name(out, path.stem))
        written = now()
        spent["read_image"] += read - start
        spent["build_sc"] += built - read
        spent["write_atomically"] += written - built
    return {name: tuple(map(float, seconds / len(paths))) for name, seconds in spent.items()}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def startup_seconds(ezp2p: list[str], rounds: int) -> float:
    """Median wall time of ``ezp2p --version``: interpreter start plus the CLI's imports."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        _run([*ezp2p, "--version"])
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- main ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100, help="photos in the batch (100)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; median kept (3)")
    parser.add_argument(
        "--per-file-sample",
        type=int,
        default=10,
        help="files run as one ezp2p process each, per round; 0 = all (default 10)",
    )
    parser.add_argument("--workdir", type=Path, help="where to put the temporary files")
    args = parser.parse_args(argv)

    img2dcm = shutil.which("img2dcm")
    if img2dcm is None:
        print("img2dcm (dcmtk) is not on PATH: install dcmtk to compare", file=sys.stderr)
        return 2
    ezp2p = ezp2p_command()
    version = subprocess.run(
        [img2dcm, "--version"], capture_output=True, text=True
    ).stdout.splitlines()[0]

    with tempfile.TemporaryDirectory(prefix="ezp2p-bench-", dir=args.workdir) as tmp:
        work = Path(tmp)
        (work / "in").mkdir()
        start = time.perf_counter()
        paths, what = make_photos(work / "in", args.count)
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        print(
            f"{args.count} JPEG photos {WIDTH}x{HEIGHT}, baseline 4:2:0 q{QUALITY}, from {what}: "
            f"{megabytes:.1f} MB, made in {time.perf_counter() - start:.1f} s in {work}"
        )
        print(f"ezp2p  : {' '.join(ezp2p)}\nimg2dcm: {img2dcm} ({version.strip('$ ')})")
        sample = paths[: args.per_file_sample] if args.per_file_sample > 0 else paths

        jobs: dict[str, Callable[[Path], None]] = {
            "ours_batch": lambda out: ours_batch(ezp2p, paths, out),
            "img2dcm": lambda out: img2dcm_per_file(img2dcm, paths, out),
            "ours_per_file": lambda out: ours_per_file(ezp2p, sample, out),
        }
        times: dict[str, list[float]] = {name: [] for name in jobs}
        cpu: dict[str, list[float]] = {name: [] for name in jobs}
        names = list(jobs)
        for round_number in range(args.rounds):
            order = names[round_number % 3 :] + names[: round_number % 3]
            for name in order:
                out = work / f"out-{name}-{round_number}"
                start, start_cpu = time.perf_counter(), _children_cpu()
                jobs[name](out)
                times[name].append(time.perf_counter() - start)
                cpu[name].append(_children_cpu() - start_cpu)
                if round_number or name == "ours_per_file":
                    shutil.rmtree(out)
            print(
                f"round {round_number + 1}/{args.rounds}: "
                + ", ".join(f"{name} {times[name][-1]:.2f} s" for name in names),
                flush=True,
            )

        print("\nOutput check on", paths[0].name)
        for line in check_outputs(work / "out-ours_batch-0", work / "out-img2dcm-0", paths[0]):
            print("  " + line)

        startup = startup_seconds(ezp2p, args.rounds)
        breakdown = in_process_breakdown(paths, work / "out-breakdown")

    n = args.count
    counts = {"ours_batch": n, "img2dcm": n, "ours_per_file": len(sample)}
    labels = {
        "ours_batch": f"ezp2p convert, 1 process for {n} files",
        "img2dcm": f"img2dcm, 1 process per file ({n} runs)",
        "ours_per_file": f"ezp2p convert, 1 process per file ({len(sample)} runs"
        + (f", projected to {n})" if len(sample) != n else ")"),
    }
    print(
        f"\nMedians of {args.rounds} rounds, {n} files, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}. Ratio = ours files/s ÷ img2dcm files/s "
        "(= img2dcm time ÷ our time): >1 means ezp2p is faster, <1 img2dcm is."
    )
    for clock, samples in (("wall-clock", times), ("CPU (user+sys of the processes)", cpu)):
        per_file = {name: statistics.median(samples[name]) / counts[name] for name in samples}
        header = f"{clock:<60} {'seconds':>8} {'files/s':>8} {'ms/file':>8} {'ratio':>7}"
        print("\n" + header + "\n" + "-" * len(header))
        for name, label in labels.items():
            ratio = "" if name == "img2dcm" else f"{per_file['img2dcm'] / per_file[name]:.2f}x"
            print(
                f"{label:<60} {per_file[name] * n:>8.2f} {1 / per_file[name]:>8.1f} "
                f"{1000 * per_file[name]:>8.1f} {ratio:>7}"
            )
    per_file = {name: statistics.median(times[name]) / counts[name] for name in times}
    in_batch = (per_file["ours_batch"] * n - startup) / n
    print(
        f"\nezp2p start-up (ezp2p --version, median): {startup:.2f} s; "
        f"batch cost per file once started: {1000 * in_batch:.1f} ms"
    )
    print(
        "in-process per file, wall / CPU: "
        + ", ".join(
            f"{name} {1000 * wall:.1f} / {1000 * cpu:.1f} ms"
            for name, (wall, cpu) in breakdown.items()
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
