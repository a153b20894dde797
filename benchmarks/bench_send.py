"""Sending DICOM files to a PACS: ``ezp2p send`` side by side with dcmtk and pynetdicom.

    python benchmarks/bench_send.py [--small 100] [--scans 4] [--rounds 3] [--profile]
                                    [--senders KEY,KEY...]

Makes two deterministic data sets in a temporary folder, both with ``ezp2p convert`` so that
every sender sends the very same files:

- ``small``: ``--small`` Secondary Capture objects, 1024x768 RGB, JPEG baseline (the JPEG
  photos encapsulated as they are, ``--ts jpeg-baseline``; about 150 kB each);
- ``scans``: ``--scans`` film scans, 16-bit grey 4096x5120 (12 bits stored), explicit VR
  little endian (41.9 MB each).

Starts two receivers on free 127.0.0.1 ports, each in its own folder and with
``TCP_NODELAY=1`` in its environment (so the receiver is not the bottleneck): dcmtk
``storescp --accept-all`` and Orthanc. Then times, round after round in the same run (the
order of the senders rotating each round; medians kept), one process per transfer:

- ``ezp2p send DIR --to AET@127.0.0.1:PORT`` with a fresh ``--outbox`` and a ``--config``
  that does not exist: the whole command, so it includes start-up and copying every file
  into the durable outbox (write, fsync, rename) before sending;
- the same with ``--associations 4`` (storescp serves one association at a time, Orthanc
  several);
- dcmtk ``storescu +sd DIR`` as shipped (Nagle's algorithm on; ``-xy`` on the small set
  so it proposes JPEG baseline);
- the same with ``TCP_NODELAY=1`` in its environment;
- pynetdicom's app, ``python -m pynetdicom storescu 127.0.0.1 PORT DIR -cx`` (``-cx``:
  propose the files' own syntaxes, which is what makes it offer JPEG baseline);
- ``net.store.store`` of the folder's files in a process of its own (no outbox, no CLI),
  once with the P-DATA fast path (``net/fastpdata.py``) and once with it turned off
  (pynetdicom's DUL writes every PDU): the sender alone, side by side with storescu and
  pynetdicom's app.

After every transfer the receiver's store is counted (files in storescp's folder; Orthanc's
``/statistics``) and must hold every instance; then it is emptied. Peak memory is the
maximum RSS of each sender process (``os.wait4``). **Ratio = ezp2p instances/s ÷ the
other's instances/s** (= its seconds ÷ ours): above 1 ezp2p is faster. With ``--profile``
(or when a goal is missed) ``ezp2p send`` is run once more under cProfile.
``--senders`` runs only those (keys: ``SENDER_KEYS``; ``ezp2p`` always).
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

SMALL_SIZE = (1024, 768)  # width, height
SCAN_SHAPE = (5120, 4096)  # rows, columns: 4096x5120 portrait film
QUALITY = 90
OUR_AE = "EZP2P"
START_TIMEOUT = 20.0
GNU_TIME = Path("/usr/bin/time").is_file()
PARALLEL = 4  # associations at once in the second ezp2p row
PARALLEL_KEY = "ezp2p_parallel"
FAST_KEY = "store_fast"
STORE_CHILD = "--store-child"  # argv[1] of this script run as a store_child process
STORE_TIMES = "net.store wall and CPU seconds:"  # what a store_child prints


# --- data ----------------------------------------------------------------------------


def make_photos(folder: Path, count: int) -> list[Path]:
    """``count`` JPEG photos: smooth random colour scenes plus grain, baseline 4:2:0."""
    rng = np.random.default_rng(20261129)
    width, height = SMALL_SIZE
    paths = []
    for number in range(count):
        coarse = rng.uniform(0, 255, size=(12, 16, 3)).astype(np.uint8)
        scene = np.asarray(
            Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
        )
        pixels = scene + 6.0 * rng.standard_normal(scene.shape, dtype=np.float32)
        path = folder / f"photo{number:03d}.jpg"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
            path, "JPEG", quality=QUALITY, subsampling="4:2:0", progressive=False
        )
        paths.append(path)
    return paths


def make_scans(folder: Path, count: int) -> list[Path]:
    """``count`` 16-bit TIFF film scans (12 bits of data): smooth density, bands, noise."""
    import tifffile

    rng = np.random.default_rng(5120)
    rows, cols = SCAN_SHAPE
    paths = []
    for number in range(count):
        coarse = rng.uniform(600, 3400, size=(20, 16)).astype(np.float32)
        density = np.asarray(Image.fromarray(coarse, mode="F").resize((cols, rows), 3))
        bands = 250 * np.sin(np.arange(rows, dtype=np.float32) / (70 + 9 * number))[:, None]
        noise = rng.normal(0, 40, size=(rows, cols)).astype(np.float32)
        pixels = np.clip(density + bands + noise, 0, 4095).astype(np.uint16)
        path = folder / f"scan{number:02d}.tif"
        tifffile.imwrite(path, pixels, photometric="minisblack")
        paths.append(path)
    return paths


@dataclass
class DataSet:
    name: str
    what: str
    folder: Path  # only the DICOM files to send
    files: list[Path] = field(default_factory=list)
    jpeg: bool = False

    @property
    def count(self) -> int:
        return len(self.files)

    @property
    def megabytes(self) -> float:
        return sum(p.stat().st_size for p in self.files) / 1e6


def convert(ezp2p: list[str], sources: Sequence[Path], out: Path, ts: str) -> list[Path]:
    out.mkdir(parents=True)
    run_checked([*ezp2p, "convert", *map(str, sources), "-o", str(out), "--ts", ts])
    return sorted(out.iterdir())


# --- processes -----------------------------------------------------------------------


def ezp2p_command() -> list[str]:
    """The ``ezp2p`` console script next to this interpreter, else ``python -m``."""
    script = Path(sys.executable).with_name("ezp2p")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "napari_ezp2p.cli"]


def plain_env(**extra: str) -> dict[str, str]:
    """Our environment without TCP_NODELAY or EZP2P_* settings, plus ``extra``."""
    env = {
        k: v for k, v in os.environ.items() if k != "TCP_NODELAY" and not k.startswith("EZP2P_")
    }
    return {**env, **extra}


def run_checked(command: Sequence[str], env: dict[str, str] | None = None) -> None:
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command[:5])}…\n{done.stderr}")


@dataclass
class Child:
    seconds: float
    cpu: float
    max_rss_mb: float
    returncode: int
    output: str


def run_child(command: Sequence[str], env: dict[str, str], log: Path) -> Child:
    """Run ``command``: its wall time, and CPU time and peak RSS from GNU ``time``.

    ``/usr/bin/time`` reports what its own child used. Without it, ``os.wait4`` gives the
    same, except that Linux carries the max RSS of the forked copy of this (big) process
    over the exec: the RSS column is then only an upper bound.
    """
    stats = log.with_suffix(".time")
    wrapper = ["/usr/bin/time", "-o", str(stats), "-f", "%M %U %S"] if GNU_TIME else []
    with log.open("wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            [*wrapper, *command], stdout=out, stderr=subprocess.STDOUT, env=env
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    max_rss_kb, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    if GNU_TIME:
        fields = stats.read_text().split()[-3:]
        max_rss_kb, cpu = int(fields[0]), float(fields[1]) + float(fields[2])
    return Child(
        seconds, cpu, max_rss_kb / 1024, process.returncode, log.read_text("utf-8", "replace")
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def binary(name: str) -> str:
    """The system's tool: pynetdicom puts apps of the same names in the venv's bin."""
    found = shutil.which(name, path="/usr/bin:/usr/sbin:/usr/local/bin:/usr/local/sbin")
    if found is None:
        raise SystemExit(f"{name} is not installed: the benchmark needs the real peer")
    return found


def echo_ok(port: int, ae_title: str) -> bool:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    ae = AE(ae_title=OUR_AE)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 2
    ae.connection_timeout = 1
    assoc = ae.associate("127.0.0.1", port, ae_title=ae_title)
    if not assoc.is_established:
        return False
    status = assoc.send_c_echo().get("Status")
    assoc.release()
    return status == 0


# --- receivers -----------------------------------------------------------------------


class Receiver:
    """A peer process in its own folder, started with TCP_NODELAY=1."""

    name = ""
    ae_title = ""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self, args: list[str]) -> None:
        log = (self.folder / f"{self.name}.log").open("wb")
        self.process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=plain_env(TCP_NODELAY="1")
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited:\n{self.log()}")
            if echo_ok(self.port, self.ae_title) and self.ready():
                return
            time.sleep(0.05)
        self.stop()
        raise SystemExit(f"{self.name} did not answer a C-ECHO:\n{self.log()}")

    def log(self) -> str:
        return (self.folder / f"{self.name}.log").read_text(errors="replace")

    def ready(self) -> bool:
        return True

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def count(self) -> int:
        raise NotImplementedError

    def clear(self) -> None:
        raise NotImplementedError

    @property
    def address(self) -> str:
        return f"{self.ae_title}@127.0.0.1:{self.port}"


class StoreScp(Receiver):
    name = "storescp"
    ae_title = "STORESCP"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.received = folder / "received"
        self.received.mkdir()
        self.start(
            [binary("storescp"), "--accept-all", "--aetitle", self.ae_title]
            + ["--output-directory", str(self.received), "--disable-host-lookup", str(self.port)]
        )

    def count(self) -> int:
        return sum(1 for p in self.received.iterdir() if p.is_file())

    def clear(self) -> None:
        for path in self.received.iterdir():
            path.unlink()


class Orthanc(Receiver):
    name = "orthanc"
    ae_title = "ORTHANC"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.http_port = free_port()
        self.http = f"http://127.0.0.1:{self.http_port}"
        (folder / "logs").mkdir()
        config = {
            "Name": "ezp2p-bench",
            "DicomAet": self.ae_title,
            "DicomPort": self.port,
            "HttpPort": self.http_port,
            "StorageDirectory": str(folder / "storage"),
            "IndexDirectory": str(folder / "index"),
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DefaultEncoding": "Utf8",
            "DicomModalities": {"ezp2p": [OUR_AE, "127.0.0.1", 104]},
            "DicomCheckCalledAet": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowEcho": True,
            "DicomCheckModalityHost": False,
            "Plugins": [],
        }
        path = folder / "orthanc.json"
        path.write_text(json.dumps(config, indent=2))
        self.start([binary("Orthanc"), f"--logdir={folder / 'logs'}", str(path)])

    def rest(self, path: str, method: str = "GET") -> object:
        request = urllib.request.Request(self.http + path, method=method)
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
        return json.loads(body) if body else None

    def ready(self) -> bool:
        try:
            self.rest("/system")
        except OSError:
            return False
        return True

    def count(self) -> int:
        return int(self.rest("/statistics")["CountInstances"])

    def clear(self) -> None:
        for patient in self.rest("/patients"):
            self.rest(f"/patients/{patient}", "DELETE")


# --- senders -------------------------------------------------------------------------


@dataclass
class Sender:
    key: str
    label: str
    command: Callable[[DataSet, Receiver, Path], list[str]]
    env: dict[str, str]


def send_args(data: DataSet, receiver: Receiver, scratch: Path) -> list[str]:
    """``ezp2p`` arguments: a fresh outbox, a config file that does not exist."""
    return ["--outbox", str(scratch / "outbox"), "--config", str(scratch / "none.toml")] + [
        "send",
        str(data.folder),
        "--to",
        receiver.address,
    ]


def senders(ezp2p: list[str], storescu: str) -> list[Sender]:
    def ours(data: DataSet, receiver: Receiver, scratch: Path) -> list[str]:
        return [*ezp2p, *send_args(data, receiver, scratch)]

    def ours_parallel(data: DataSet, receiver: Receiver, scratch: Path) -> list[str]:
        return [*ours(data, receiver, scratch), "--associations", str(PARALLEL)]

    def dcmtk(data: DataSet, receiver: Receiver, scratch: Path) -> list[str]:
        syntax = ["-xy"] if data.jpeg else []
        return [storescu, "-aet", "STORESCU", "-aec", receiver.ae_title, "+sd", *syntax] + [
            "127.0.0.1",
            str(receiver.port),
            str(data.folder),
        ]

    def pynetdicom(data: DataSet, receiver: Receiver, scratch: Path) -> list[str]:
        return [sys.executable, "-m", "pynetdicom", "storescu", "127.0.0.1"] + [
            str(receiver.port),
            str(data.folder),
            "-aec",
            receiver.ae_title,
            "-cx",
        ]

    def store_only(fast: bool) -> Callable[[DataSet, Receiver, Path], list[str]]:
        def command(data: DataSet, receiver: Receiver, scratch: Path) -> list[str]:
            mode = "fast" if fast else "pynetdicom"
            return [sys.executable, __file__, STORE_CHILD, mode, receiver.address] + [
                str(data.folder)
            ]

        return command

    return [
        Sender("ezp2p", "ezp2p send (incl. outbox copy)", ours, plain_env()),
        Sender(PARALLEL_KEY, f"ezp2p send --associations {PARALLEL}", ours_parallel, plain_env()),
        Sender("dcmtk", "dcmtk storescu as shipped", dcmtk, plain_env()),
        Sender(
            "dcmtk_nodelay", "dcmtk storescu, TCP_NODELAY=1", dcmtk, plain_env(TCP_NODELAY="1")
        ),
        Sender("pynetdicom", "pynetdicom storescu app (-cx)", pynetdicom, plain_env()),
        Sender(FAST_KEY, "net.store, P-DATA fast path", store_only(True), plain_env()),
        Sender("store_pynetdicom", "net.store, pynetdicom's PDUs", store_only(False), plain_env()),
    ]


def store_child(mode: str, address: str, folder: str) -> int:
    """``net.store.store`` of the files in ``folder`` to ``address`` (AET@HOST:PORT), with
    the fast path (``mode`` "fast") or without ("pynetdicom"): the sender alone."""
    from napari_ezp2p.net import fastpdata
    from napari_ezp2p.net.destination import NetworkSettings, parse_address
    from napari_ezp2p.net.store import store

    if mode != "fast":
        fastpdata.usable = lambda assoc, size: False  # every PDU by pynetdicom's DUL
    files = sorted(Path(folder).iterdir())
    cpu = time.process_time()
    report = store(files, parse_address(address), NetworkSettings(ae_title=OUR_AE))
    print(f"{STORE_TIMES} {report.seconds:.3f} {time.process_time() - cpu:.3f}")
    if not report.ok:
        print(report.error, file=sys.stderr)
    return 0 if report.ok else 1


def transfer(sender: Sender, data: DataSet, receiver: Receiver, scratch: Path) -> Child:
    """One timed transfer, checked on the receiver's side, which is emptied afterwards."""
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    child = run_child(sender.command(data, receiver, scratch), sender.env, scratch / "log.txt")
    received = receiver.count()
    if child.returncode or received != data.count:
        raise SystemExit(
            f"{sender.label} -> {receiver.name}: exit {child.returncode}, {received} of "
            f"{data.count} instances arrived: the benchmark is invalid\n{child.output[-3000:]}"
        )
    receiver.clear()
    shutil.rmtree(scratch)
    return child


# --- profile -------------------------------------------------------------------------

#: Functions whose cumulative share of ``ezp2p send`` is reported, with a short label
#: (file name ending, function name; "~" for built-ins).
WATCHED = (
    ("cli/sending.py", "run_send", "ezp2p send (after imports)"),
    ("jobs/send.py", "queue", "jobs.send.queue: inputs into the outbox"),
    ("queue.py", "write", "  Outbox.write (copy or write each file, fsync)"),
    ("queue.py", "insert", "  Outbox.insert (rows, one transaction per batch)"),
    ("jobs/send.py", "deliver", "jobs.send.deliver: drain the outbox"),
    ("net/store.py", "store", "  net.store.store"),
    ("net/store.py", "_item", "    _item (header read per file)"),
    ("net/store.py", "_send_one", "    _send_one (path streamed, or decoded to transcode)"),
    ("pynetdicom/association.py", "send_c_store", "      pynetdicom send_c_store"),
    ("dimse.py", "send_msg", "        encode + split into PDUs (send_msg)"),
    ("net/fastpdata.py", "send_c_store", "        P-DATA fast path (instead of send_msg)"),
    ("dimse.py", "get_msg", "        waiting for the C-STORE-RSP"),
    ("runner.py", "_mark_sent", "  outbox mark_sent (one commit per instance, no fsync)"),
    ("~", "<built-in method posix.fsync>", "across: os.fsync of the outbox copies"),
    ("queue.py", "_write", "across: SQLite BEGIN/COMMIT"),
    ("filereader.py", "dcmread", "across: pydicom dcmread (header reads)"),
    ("filewriter.py", "dcmwrite", "across: pydicom dcmwrite (outbox copy)"),
)


def profile_send(ezp2p_args: list[str], env: dict[str, str], out: Path) -> list[str]:
    """Run ``ezp2p send`` under cProfile (main thread); lines to print."""
    command = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "napari_ezp2p.cli"]
    start = time.perf_counter()
    run_checked([*command, *ezp2p_args], env)
    wall = time.perf_counter() - start
    stats = pstats.Stats(str(out))
    total = stats.total_tt
    lines = [f"cProfile total {total:.2f} s of main-thread time (wall {wall:.2f} s with the"]
    lines[0] += " profiler); cumulative seconds and share of the total:"
    rows = stats.stats  # type: ignore[attr-defined]
    for filename, function, label in WATCHED:
        cumulative = sum(
            row[3]
            for (path, _, name), row in rows.items()
            if name == function and path.endswith(filename)
        )
        if cumulative:
            lines.append(f"  {label:<50} {cumulative:>7.2f} s {100 * cumulative / total:>5.1f} %")
    send = sum(row[3] for (path, _, name), row in rows.items() if name == "_send")
    outside = total - send
    label = "start-up: imports, parsing (outside _send)"
    lines.append(f"  {label:<50} {outside:>7.2f} s {100 * outside / total:>5.1f} %")
    lines.append("Top functions by own time:")
    by_own = sorted(rows.items(), key=lambda item: item[1][2], reverse=True)[:12]
    for (path, line, name), row in by_own:
        where = f"{Path(path).parent.name}/{Path(path).name}:{line}" if line else path
        lines.append(f"  {row[2]:>7.2f} s {100 * row[2] / total:>5.1f} %  {name}  ({where})")
    return lines


# --- main ----------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=100, help="small JPEG objects (100)")
    parser.add_argument("--scans", type=int, default=4, help="16-bit film scans (4)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; median kept (3)")
    parser.add_argument("--profile", action="store_true", help="profile ezp2p send anyway")
    parser.add_argument("--workdir", type=Path, help="where to put the temporary files")
    parser.add_argument("--senders", help="comma-separated sender keys to run (all)")
    args = parser.parse_args(argv)
    chosen = senders([], "")
    if args.senders:
        wanted = {"ezp2p", *args.senders.split(",")}
        unknown = wanted - {s.key for s in chosen}
        if unknown:
            parser.error(f"unknown senders {sorted(unknown)}: {[s.key for s in chosen]}")
        args.senders = [s.key for s in chosen if s.key in wanted]
    else:
        args.senders = [s.key for s in chosen]

    storescu = binary("storescu")
    ezp2p = ezp2p_command()
    version = subprocess.run(
        [storescu, "--version"], capture_output=True, text=True
    ).stdout.splitlines()[0]
    print(f"ezp2p     : {' '.join(ezp2p)}\nstorescu  : {storescu} ({version.strip('$ ')})")
    print(f"pynetdicom: {sys.executable} -m pynetdicom storescu")

    with tempfile.TemporaryDirectory(prefix="ezp2p-bench-send-", dir=args.workdir) as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        (work / "photos").mkdir()
        (work / "tiff").mkdir()
        photos = make_photos(work / "photos", args.small)
        tiffs = make_scans(work / "tiff", args.scans)
        small = DataSet("small", "", work / "small")
        small.files = convert(ezp2p, photos, small.folder, "jpeg-baseline")
        small.jpeg = True
        scans = DataSet("scans", "", work / "scans")
        scans.files = convert(ezp2p, tiffs, scans.folder, "explicit-le")
        for data, ts in ((small, "1.2.840.10008.1.2.4.50"), (scans, "1.2.840.10008.1.2.1")):
            check_syntax(data, ts)
        small.what = (
            f"{small.count} SC {SMALL_SIZE[0]}x{SMALL_SIZE[1]} RGB, JPEG baseline, "
            f"{small.megabytes:.1f} MB"
        )
        scans.what = (
            f"{scans.count} SC {SCAN_SHAPE[1]}x{SCAN_SHAPE[0]} 16-bit, explicit VR LE, "
            f"{scans.megabytes:.1f} MB"
        )
        print(f"data made in {time.perf_counter() - start:.1f} s in {work}:")
        print(f"  small: {small.what}\n  scans: {scans.what}")

        receivers: list[Receiver] = []
        try:
            receivers = [StoreScp(work / "storescp"), Orthanc(work / "orthanc")]
            send_with = [s for s in senders(ezp2p, storescu) if s.key in args.senders]
            results = measure(args, [small, scans], receivers, send_with, work)
            memory = memory_scaling(ezp2p, scans, receivers[0], work)
            startup = run_child([*ezp2p, "--version"], plain_env(), work / "version.log")
            missed = report(args, [small, scans], receivers, results, memory, startup)
            if args.profile or missed:
                for data in [small, scans] if args.profile else missed:
                    scratch = work / "profile"
                    scratch.mkdir(exist_ok=True)
                    ours = send_args(data, receivers[0], scratch)
                    print(f"\n== cProfile of ezp2p send, {data.name} -> storescp")
                    for line in profile_send(ours, plain_env(), scratch / "send.prof"):
                        print(line)
                    receivers[0].clear()
                    shutil.rmtree(scratch)
        finally:
            for receiver in receivers:
                receiver.stop()
    return 0


def check_syntax(data: DataSet, uid: str) -> None:
    from pydicom import dcmread

    for path in (data.files[0], data.files[-1]):
        found = dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
        if found != uid:
            raise SystemExit(f"{path.name} is in {found}, not {uid}: the benchmark is invalid")


Results = dict[tuple[str, str, str], list[Child]]  # (data set, receiver, sender) -> runs


def measure(
    args: argparse.Namespace,
    data_sets: Sequence[DataSet],
    receivers: Sequence[Receiver],
    send_with: Sequence[Sender],
    work: Path,
) -> Results:
    results: Results = {}
    for data in data_sets:
        for receiver in receivers:
            receiver.clear()
            for round_number in range(args.rounds):
                shift = round_number % len(send_with)
                order = list(send_with[shift:]) + list(send_with[:shift])
                for sender in order:
                    child = transfer(sender, data, receiver, work / "scratch")
                    results.setdefault((data.name, receiver.name, sender.key), []).append(child)
                print(
                    f"{data.name} -> {receiver.name}, round {round_number + 1}/{args.rounds}: "
                    + ", ".join(
                        f"{s.key} {results[(data.name, receiver.name, s.key)][-1].seconds:.2f} s"
                        for s in send_with
                    ),
                    flush=True,
                )
    return results


def memory_scaling(
    ezp2p: list[str], scans: DataSet, receiver: Receiver, work: Path
) -> list[tuple[int, Child]]:
    """``ezp2p send`` of 1 scan, then of all: peak RSS must not grow with the study."""
    out = []
    for count in sorted({1, max(1, scans.count // 2), scans.count}):
        subset = DataSet(f"scans[:{count}]", "", work / f"subset{count}")
        subset.folder.mkdir()
        for path in scans.files[:count]:
            os.link(path, subset.folder / path.name)
        subset.files = sorted(subset.folder.iterdir())
        sender = senders(ezp2p, "")[0]
        out.append((count, transfer(sender, subset, receiver, work / "scratch")))
    return out


def store_times(child: Child) -> tuple[float, float]:
    """The wall and CPU seconds of ``net.store.store`` that a store_child printed."""
    line = next(line for line in child.output.splitlines() if line.startswith(STORE_TIMES))
    wall, cpu = line.removeprefix(STORE_TIMES).split()
    return float(wall), float(cpu)


def report(
    args: argparse.Namespace,
    data_sets: Sequence[DataSet],
    receivers: Sequence[Receiver],
    results: Results,
    memory: list[tuple[int, Child]],
    startup: Child,
) -> list[DataSet]:
    """Print the tables and the goals; the data sets where ezp2p missed a speed goal."""
    keys = args.senders
    labels = {s.key: s.label for s in senders([], "")}
    print(
        f"\nMedians of {args.rounds} rounds, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}. Ratio = ezp2p instances/s ÷ the sender's instances/s "
        "(= its seconds ÷ ours): >1 means ezp2p is faster. MB = 10^6 bytes of files sent."
    )
    missed: list[DataSet] = []
    goals: list[str] = []
    for data in data_sets:
        for receiver in receivers:
            runs = {key: results[(data.name, receiver.name, key)] for key in keys}
            seconds = {key: median([c.seconds for c in runs[key]]) for key in keys}
            header = (
                f"{data.name} -> {receiver.name}: {data.what}\n"
                f"{'sender':<34} {'seconds':>8} {'inst/s':>8} {'MB/s':>8} {'ratio':>7} "
                f"{'CPU s':>7} {'max RSS MB':>10}"
            )
            print("\n" + header + "\n" + "-" * 86)
            for key in keys:
                ours = key in ("ezp2p", PARALLEL_KEY)
                ratio = "" if ours else f"{seconds[key] / seconds['ezp2p']:.2f}x"
                cpu = median([c.cpu for c in runs[key]])
                rss = max(c.max_rss_mb for c in runs[key])
                print(
                    f"{labels[key]:<34} {seconds[key]:>8.2f} {data.count / seconds[key]:>8.1f} "
                    f"{data.megabytes / seconds[key]:>8.1f} {ratio:>7} {cpu:>7.2f} {rss:>10.0f}"
                )
            checks = (
                [("pynetdicom", 3.0), ("dcmtk", 1.0)]
                if data.name == "small"
                else [("dcmtk_nodelay", 1.0)]
            )
            for key, wanted in checks:
                if key not in keys:
                    continue
                for ours in [k for k in ("ezp2p", PARALLEL_KEY) if k in keys]:
                    ratio = seconds[key] / seconds[ours]
                    ok = ratio >= wanted
                    goals.append(
                        f"{data.name} -> {receiver.name}: {labels[ours]} vs {labels[key]} "
                        f"{ratio:.2f}x, goal >= {wanted:g}x: {'met' if ok else 'MISSED'}"
                    )
                    if not ok and ours == "ezp2p" and data not in missed:
                        missed.append(data)
            goals.extend(
                f"{data.name} -> {receiver.name}: {labels[FAST_KEY]} at "
                f"{seconds[key] / seconds[FAST_KEY]:.2f}x the speed of {labels[key]}, "
                f"CPU {median([c.cpu for c in runs[FAST_KEY]]):.2f} s against "
                f"{median([c.cpu for c in runs[key]]):.2f} s"
                for key in ("dcmtk_nodelay", "pynetdicom", "store_pynetdicom")
                if FAST_KEY in keys and key in keys
            )
            for key in (FAST_KEY, "store_pynetdicom"):
                if key in keys:
                    wall, cpu = (
                        median(values) for values in zip(*map(store_times, runs[key]), strict=True)
                    )
                    goals.append(
                        f"{data.name} -> {receiver.name}: {labels[key]}, net.store itself "
                        f"(start-up left out): {wall:.2f} s, {data.megabytes / wall:.0f} MB/s, "
                        f"CPU {cpu:.2f} s"
                    )
    print("\nGoals:\n  " + "\n  ".join(goals))
    image_mb = 2 * SCAN_SHAPE[0] * SCAN_SHAPE[1] / 1e6
    print(
        f"\nPeak memory of ezp2p (max RSS): start-up alone (ezp2p --version) "
        f"{startup.max_rss_mb:.0f} MB in {startup.seconds:.2f} s; one scan's pixels = "
        f"{image_mb:.1f} MB."
    )
    for count, child in memory:
        extra = child.max_rss_mb - startup.max_rss_mb
        print(
            f"  send {count} scan(s) ({count * image_mb:.0f} MB of pixels): max RSS "
            f"{child.max_rss_mb:.0f} MB = start-up + {extra:.0f} MB "
            f"({extra / image_mb:.1f} scans)"
        )
    return missed


if __name__ == "__main__":
    if sys.argv[1:2] == [STORE_CHILD]:
        sys.exit(store_child(*sys.argv[2:]))
    sys.exit(main())
