"""The outbox's durability cost per GB: copying DICOM files in, writing converted objects.

    python benchmarks/bench_outbox.py [--count 24] [--small 200] [--rounds 3] [--workdir DIR]

Makes, in a temporary folder, ``--count`` film-scan-sized Part 10 files (16-bit 4096x5120,
41.9 MB each: 1 GB by default) and ``--small`` small ones (150 kB each), then times,
round after round in the same run (the order rotating each round; medians kept), what
``ezp2p send`` does before the first byte goes out: ``Outbox.add`` of every file for one
destination into a fresh outbox (each file copied to a temporary file, fsynced, renamed;
the folder fsynced once; one transaction for the rows). Variants:

- ``outbox.add``: as shipped (``os.copy_file_range``: the kernel copies, or clones where
  the filesystem shares extents; ``outbox.writing.COPIERS`` copies at once, so that their
  fsyncs overlap);
- ``outbox.add, buffered copy``: the same with the bytes read and written through a 1 MiB
  buffer (``shutil.copyfileobj``, what the outbox did before);
- ``outbox.add, one copy at a time``: the same with ``COPIERS = 1``;
- ``outbox.add as before: both``: a buffered copy, one at a time: what it cost before
  (then each copy was also made before the next file's header was read);
- ``outbox.add, no fsync``: as shipped with ``os.fsync`` a no-op: what durability costs is
  the difference;
- ``cp (shutil.copyfile), no fsync``: the floor, a plain copy of the same files
  (``os.sendfile`` on Linux) into an empty folder;
- ``write_atomically`` / ``…, no fsync``: a converted object's way in, the scans' datasets
  (already in memory) encoded by ``core.convert.write_atomically``.

The outbox and copies of a round are deleted between rounds (not timed). Reported per
variant: seconds and CPU seconds (this process's user+sys) per GB, and MB/s. The numbers
include the page cache: the source files are read from memory after the first round, and
``fsync`` is what waits for the disk.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np
from pydicom import Dataset, dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from napari_ezp2p.core import part10
from napari_ezp2p.core.convert import write_atomically
from napari_ezp2p.net.destination import Destination
from napari_ezp2p.outbox import Outbox, writing

SCAN_SHAPE = (5120, 4096)  # rows, columns
SMALL_SHAPE = (274, 274)  # 150 kB of 16-bit pixels
PACS = Destination("pacs", "PACS", "127.0.0.1", 11112)


def make_dataset(shape: tuple[int, int], rng: np.random.Generator) -> Dataset:
    """A 16-bit grey Secondary Capture with noisy pixels, its own UIDs."""
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "BENCH^OUTBOX", "B1", "OT"
    ds.Rows, ds.Columns = shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = rng.integers(0, 4096, shape, dtype=np.uint16).tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def make_files(folder: Path, count: int, shape: tuple[int, int]) -> list[Path]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(count)
    pixels = make_dataset(shape, rng).PixelData
    paths = []
    for number in range(count):
        ds = make_dataset((1, 1), rng)
        ds.Rows, ds.Columns, ds.PixelData = *shape, pixels
        path = folder / f"{number:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def buffered_copy(source, out) -> None:
    shutil.copyfileobj(source, out, 1 << 20)


def no_fsync(fd: int) -> None:
    del fd


def timed(run: Callable[[Path], None], work: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``run`` in a fresh folder, which then goes."""
    work.mkdir()
    before = os.times()
    start = time.perf_counter()
    run(work)
    wall = time.perf_counter() - start
    after = os.times()
    shutil.rmtree(work)
    return wall, (after.user - before.user) + (after.system - before.system)


def variants(paths: list[Path], datasets: list[Dataset]) -> dict[str, Callable[[Path], None]]:
    def add(work: Path) -> None:
        with Outbox(work / "outbox") as outbox:
            assert len(outbox.add(paths, [PACS])) == len(paths)

    def add_buffered(work: Path) -> None:
        with mock.patch.object(part10, "copy_rest", buffered_copy):
            add(work)

    def add_one_at_a_time(work: Path) -> None:
        with mock.patch.object(writing, "COPIERS", 1):
            add(work)

    def add_as_before(work: Path) -> None:
        with mock.patch.object(writing, "COPIERS", 1):
            add_buffered(work)

    def add_no_fsync(work: Path) -> None:
        with mock.patch.object(os, "fsync", no_fsync):
            add(work)

    def plain_copy(work: Path) -> None:
        for path in paths:
            shutil.copyfile(path, work / path.name)

    def write(work: Path) -> None:
        for number, ds in enumerate(datasets):
            write_atomically(ds, work / f"{number}.dcm")

    def write_no_fsync(work: Path) -> None:
        with mock.patch.object(os, "fsync", no_fsync):
            write(work)

    found = {
        "outbox.add": add,
        "outbox.add, buffered copy": add_buffered,
        "outbox.add, one copy at a time": add_one_at_a_time,
        "outbox.add as before: both": add_as_before,
        "outbox.add, no fsync": add_no_fsync,
        "cp (shutil.copyfile), no fsync": plain_copy,
    }
    if datasets:
        found["write_atomically"] = write
        found["write_atomically, no fsync"] = write_no_fsync
    return found


def measure(name: str, paths: list[Path], datasets: list[Dataset], work: Path, rounds: int):
    gigabytes = sum(path.stat().st_size for path in paths) / 1e9
    runs = variants(paths, datasets)
    times: dict[str, list[tuple[float, float]]] = {key: [] for key in runs}
    order = list(runs)
    for number in range(rounds):
        for key in order[number % len(order) :] + order[: number % len(order)]:
            times[key].append(timed(runs[key], work / f"round{number}"))
    print(f"\n{name}: {len(paths)} files, {gigabytes:.2f} GB, medians of {rounds} rounds")
    print(f"| {'variant':<32} | s/GB | CPU s/GB | MB/s |")
    print(f"|{'-' * 34}|-----:|---------:|-----:|")
    for key, measured in times.items():
        wall = statistics.median(w for w, _ in measured)
        cpu = statistics.median(c for _, c in measured)
        row = f"| {key:<32} | {wall / gigabytes:.2f} | {cpu / gigabytes:.2f} |"
        print(f"{row} {gigabytes * 1000 / wall:.0f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=24, help="film-scan-sized files")
    parser.add_argument("--small", type=int, default=200, help="150 kB files")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-outbox-", dir=args.workdir) as temporary:
        root = Path(temporary)
        print(f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, files in {root}")
        scans = make_files(root / "scans", args.count, SCAN_SHAPE)
        small = make_files(root / "small", args.small, SMALL_SHAPE)
        datasets = [dcmread(path) for path in scans[:4]]
        measure("film scans", scans, [], root, args.rounds)
        measure("small objects", small, [], root, args.rounds)
        measure("4 film scans as datasets", scans[:4], datasets, root, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
