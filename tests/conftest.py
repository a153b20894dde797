"""Fixtures that start the real DICOM peers (dcmtk storescp and wlmscpfs, Orthanc).

Each peer gets free 127.0.0.1 ports and its own temporary folder, is polled with C-ECHO
every 50 ms until it answers, and is stopped (terminate, then kill) at teardown. A
missing binary fails the test: these peers are the point of the tests, never skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from napari_ezp2p.core.transfer import TRANSFER_SYNTAXES
from napari_ezp2p.net.destination import Destination, TlsSettings
from tests.peers import require_tool

#: Our AE title in every test: peers that check callers know it.
OUR_AE = "EZP2P"
START_TIMEOUT = 15.0
POLL_INTERVAL = 0.05


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _peer_env() -> dict[str, str]:
    return {**os.environ, "TCP_NODELAY": "1"}


class Peer:
    """A peer process: stopped with terminate, then kill."""

    def __init__(self, name: str, args: list[str], folder: Path, grace: float = 5.0) -> None:
        self.name = name
        self.grace = grace  # seconds between terminate and kill
        self.folder = folder
        self.log = folder / f"{name}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=_peer_env(), cwd=folder
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(
        self,
        port: int,
        ae_title: str,
        tls: ssl.SSLContext | None = None,
        ready: Callable[[], bool] | None = None,
    ) -> None:
        """Poll with C-ECHO (and ``ready``) until the peer answers; fail if it dies."""
        ae = AE(ae_title=OUR_AE)
        ae.add_requested_context(Verification)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 2
        ae.connection_timeout = 1
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited ({self.process.returncode}):\n{self.output()}")
            tls_args = (tls, "127.0.0.1") if tls else None
            assoc = ae.associate("127.0.0.1", port, ae_title=ae_title, tls_args=tls_args)
            if assoc.is_established:
                status = assoc.send_c_echo().get("Status")
                assoc.release()
                if status == 0 and (ready is None or ready()):
                    return
            time.sleep(POLL_INTERVAL)
        self.stop()
        pytest.fail(
            f"{self.name} did not answer a C-ECHO within {START_TIMEOUT} s:\n{self.output()}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(self.grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Our own config file and outbox for the test (``ezp2p`` commands use them)."""
    monkeypatch.setenv("EZP2P_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("EZP2P_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.delenv("EZP2P_AET", raising=False)
    return tmp_path


# ---------------------------------------------------------------------------------------
# storescp


@dataclass
class StoreScp:
    ae_title: str
    port: int
    folder: Path  # the received files
    destination: Destination
    peer: Peer

    def received(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.is_file())


#: storescp --accept-all refuses JPEG Lossless process 14 (.57): this profile accepts all
#: twelve syntaxes of core.transfer for the classes we write: Secondary Capture and
#: Encapsulated PDF.
_OUR_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.7",
    "1.2.840.10008.5.1.4.1.1.7.1",
    "1.2.840.10008.5.1.4.1.1.7.2",
    "1.2.840.10008.5.1.4.1.1.7.3",
    "1.2.840.10008.5.1.4.1.1.7.4",
    "1.2.840.10008.5.1.4.1.1.104.1",
)


def storescp_config(path: Path) -> Path:
    lines = ["[[TransferSyntaxes]]", "[Native]"]
    native = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2")
    lines += [f"TransferSyntax{n} = {uid}" for n, uid in enumerate(native, 1)]
    lines.append("[All]")
    lines += [f"TransferSyntax{n} = {ts.uid}" for n, ts in enumerate(TRANSFER_SYNTAXES, 1)]
    lines += [
        "[[PresentationContexts]]",
        "[SC]",
        "PresentationContext1 = 1.2.840.10008.1.1\\Native",
    ]
    lines += [f"PresentationContext{n} = {uid}\\All" for n, uid in enumerate(_OUR_CLASSES, 2)]
    lines += ["[[Profiles]]", "[Default]", "PresentationContexts = SC", ""]
    path.write_text("\n".join(lines))
    return path


def start_storescp(
    folder: Path,
    *,
    ae_title: str = "STORESCP",
    tls: TlsSettings | None = None,
    extra=(),
    port: int | None = None,
) -> StoreScp:
    """storescp accepting the classes we write (SC, Encapsulated PDF) in all twelve syntaxes,
    on ``port`` (a free one when None).

    With ``tls`` (server key in ``key_file``, certificate in ``cert_file``, CA of the
    clients in ``ca_file``) it speaks TLS and requires a client certificate.
    """
    port = port or free_port()
    received = folder / "received"
    received.mkdir(parents=True, exist_ok=True)
    config = storescp_config(folder / "storescp.cfg")
    args = [
        require_tool("storescp"),
        "--config-file",
        str(config),
        "Default",
        "--aetitle",
        ae_title,
    ]
    args += ["--output-directory", str(received), "--disable-host-lookup", *extra]
    if tls is not None:
        args += ["+tls", tls.key_file, tls.cert_file, "+cf", tls.ca_file]
    args.append(str(port))
    peer = Peer("storescp", args, folder)
    dest = Destination("storescp", ae_title, "127.0.0.1", port)
    poll_tls = None
    if tls is not None:
        poll_tls = ssl.create_default_context(cafile=tls.ca_file)
        poll_tls.load_cert_chain(tls.cert_file, tls.key_file)
    peer.wait_ready(port, ae_title, poll_tls)
    return StoreScp(ae_title, port, received, dest, peer)


@pytest.fixture
def storescp(tmp_path: Path) -> Iterator[StoreScp]:
    """A running storescp (every syntax of core.transfer) in its own folder."""
    scp = start_storescp(tmp_path / "storescp")
    yield scp
    scp.peer.stop()


# ---------------------------------------------------------------------------------------
# Two stores: one object for both


@pytest.fixture
def two_stores(tmp_path, monkeypatch):
    """Two storescp: A prefers JPEG Baseline (lossy), B explicit VR little endian, both
    configured (A the default), and the outbox of this test."""
    a = start_storescp(tmp_path / "a", ae_title="STORE-A")
    b = start_storescp(tmp_path / "b", ae_title="STORE-B")
    from napari_ezp2p.config import Config, add_destination, save_config

    config = add_destination(
        Config(), "A", a.destination.address, transfer_syntax="jpeg-baseline", default=True
    )
    config = add_destination(config, "B", b.destination.address, transfer_syntax="explicit-le")
    save_config(config, tmp_path / "config.toml")
    monkeypatch.setenv("EZP2P_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("EZP2P_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.delenv("EZP2P_AET", raising=False)
    yield a, b
    a.peer.stop()
    b.peer.stop()


def assert_one_lossless_object_at_both(stores, pixels) -> None:
    (at_a,) = [dcmread(path) for path in stores[0].received()]
    (at_b,) = [dcmread(path) for path in stores[1].received()]
    assert at_a.SOPInstanceUID == at_b.SOPInstanceUID
    assert at_b.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    for ds in (at_a, at_b):
        assert "LossyImageCompression" not in ds
        assert np.array_equal(ds.pixel_array, pixels)


# ---------------------------------------------------------------------------------------
# Orthanc


@dataclass
class Orthanc:
    destination: Destination
    http: str  # base URL of the REST API
    config: dict
    peer: Peer

    def rest(self, path: str) -> object:
        """The JSON the REST API answers for ``path`` (e.g. ``/instances``)."""
        with urllib.request.urlopen(self.http + path, timeout=10) as response:
            return json.load(response)


def orthanc_config(folder: Path, dicom_port: int, http_port: int, **overrides) -> dict:
    config = {
        "Name": "ezp2p-test",
        "DicomAet": "ORTHANC",
        "DicomPort": dicom_port,
        "HttpPort": http_port,
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
        "HttpThreadsCount": 4,
        "StableAge": 1,
    }
    config.update(overrides)
    return config


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[Callable[..., Orthanc]]:
    """Factory: ``orthanc(**config_overrides)`` starts an Orthanc in its own folder."""
    started: list[Orthanc] = []

    def start(**overrides) -> Orthanc:
        folder = tmp_path / f"orthanc{len(started)}"
        (folder / "logs").mkdir(parents=True)
        dicom_port, http_port = free_port(), free_port()
        config = orthanc_config(folder, dicom_port, http_port, **overrides)
        path = folder / "orthanc.json"
        path.write_text(json.dumps(config, indent=2))
        args = [require_tool("Orthanc"), f"--logdir={folder / 'logs'}", str(path)]
        # Orthanc takes about 4 s to stop cleanly; its database is thrown away anyway.
        peer = Peer("orthanc", args, folder, grace=0.3)
        dest = Destination("orthanc", config["DicomAet"], "127.0.0.1", dicom_port)
        server = Orthanc(dest, f"http://127.0.0.1:{http_port}", config, peer)
        started.append(server)

        def http_ready() -> bool:
            try:
                server.rest("/system")
            except OSError:
                return False
            return True

        peer.wait_ready(dicom_port, config["DicomAet"], ready=http_ready)
        return server

    yield start
    for server in started:
        server.peer.stop()


@pytest.fixture
def hierarchical_orthanc(orthanc) -> Callable[..., Orthanc]:
    """Factory like ``orthanc``, for an Orthanc that refuses any Study Root query below
    the study level that is not hierarchical (see ``hierarchical.lua``)."""
    script = Path(__file__).with_name("hierarchical.lua")
    return lambda **overrides: orthanc(LuaScripts=[str(script)], **overrides)


# ---------------------------------------------------------------------------------------
# wlmscpfs


@dataclass
class Worklist:
    destination: Destination
    folder: Path  # the AE title folder holding the .wl files
    peer: Peer
    files: list[Path] = field(default_factory=list)


def write_worklist_item(item: Dataset, path: Path) -> Path:
    """``item`` as a .wl file wlmscpfs reads (explicit VR little endian, with meta)."""
    ds = Dataset()
    ds.update(item)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.31"
    ds.file_meta.MediaStorageSOPInstanceUID = "2.25.1"
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def wlmscpfs(tmp_path: Path) -> Iterator[Callable[[Sequence[Dataset]], Worklist]]:
    """Factory: ``wlmscpfs(items)`` serves the worklist ``items`` (``--keep-char-set``)."""
    started: list[Worklist] = []

    def start(items: Sequence[Dataset], ae_title: str = "WLMSCP") -> Worklist:
        root = tmp_path / f"wlm{len(started)}"
        folder = root / "db" / ae_title
        folder.mkdir(parents=True)
        (folder / "lockfile").write_bytes(b"")
        files = [
            write_worklist_item(item, folder / f"item{n:03d}.wl") for n, item in enumerate(items)
        ]
        port = free_port()
        args = [
            require_tool("wlmscpfs"),
            "--single-process",
            "--data-files-path",
            str(root / "db"),
        ]
        args += ["--keep-char-set", "--disable-host-lookup", str(port)]
        peer = Peer("wlmscpfs", args, root)
        dest = Destination("worklist", ae_title, "127.0.0.1", port)
        worklist = Worklist(dest, folder, peer, files)
        started.append(worklist)
        peer.wait_ready(port, ae_title)
        return worklist

    yield start
    for worklist in started:
        worklist.peer.stop()


# ---------------------------------------------------------------------------------------
# SANE's test backend
#
# Debian's ``/etc/sane.d/dll.conf`` has the ``test`` backend commented out, so the fixture
# writes its own SANE configuration folder (``dll.conf`` saying ``test`` and a copy of
# ``test.conf``) and points ``SANE_CONFIG_DIR`` at it.
#
# libsane reads ``SANE_CONFIG_DIR`` once per process, at the first ``sane_init`` (later
# ``sane_exit``/``sane_init`` pairs keep the folder found then), so the fixture is
# session-scoped, lives here so that the capture and the Qt tests share it, and must run
# before anything else in the test process initialises SANE (a test that lists scanners,
# e.g. through the Capture dock, must ask for it); it fails, naming that cause, when
# ``test:0`` is not listed. A missing SANE or python-sane fails the tests: the real
# scanner backend is the point, never skipped.

SANE_TEST_CONF = Path("/etc/sane.d/test.conf")
SANE_TEST_DEVICE = "test:0"


@pytest.fixture(scope="session")
def sane_test_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``SANE_CONFIG_DIR`` set to a folder that enables only SANE's test backend.

    Yields the name of the first test device, ``test:0``.
    """
    try:
        import sane  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"python-sane is not installed (pip install python-sane): {exc}")
    if not SANE_TEST_CONF.exists():
        pytest.fail(f"{SANE_TEST_CONF} is missing: install Debian's sane-utils (libsane1)")
    folder = tmp_path_factory.mktemp("sane.d")
    (folder / "dll.conf").write_text("test\n")
    shutil.copy(SANE_TEST_CONF, folder / "test.conf")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SANE_CONFIG_DIR", str(folder))
        from napari_ezp2p.capture.scanner import list_scanners

        names = [info.name for info in list_scanners()]
        if SANE_TEST_DEVICE not in names:
            pytest.fail(
                f"SANE lists {names}, not {SANE_TEST_DEVICE}: libsane reads SANE_CONFIG_DIR "
                "at the first sane_init of the process, so something initialised SANE before "
                "this fixture (or the test backend libsane-test is missing)"
            )
        yield SANE_TEST_DEVICE


# ---------------------------------------------------------------------------------------
# Videos (tests/capture/videos.py), shared by the capture and the jobs tests


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Lossless, lossy and rotated videos, and broken or not-video files, by kind."""
    from tests.capture.videos import make_videos

    return make_videos(tmp_path_factory.mktemp("videos"))
