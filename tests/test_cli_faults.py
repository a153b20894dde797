"""Faults of the machine the command runs on: long names, full and read-only disks, bad
ports, a process killed while converting. Each is one clear line, never a traceback,
and a convert goes on with the rest of its batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from napari_ezp2p.cli import main
from napari_ezp2p.outbox import Outbox
from tests.mounts import fill, remount, tmpfs

EZP2P = str(Path(sys.executable).parent / "ezp2p")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """Our own config file and outbox for the test."""
    monkeypatch.setenv("EZP2P_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("EZP2P_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.delenv("EZP2P_AET", raising=False)
    return tmp_path


def _png(path: Path, size=(16, 16), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, size, dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _errors(captured) -> list[str]:
    lines = captured.err.splitlines()
    assert not any("Traceback" in line for line in lines), captured.err
    return lines


def test_long_file_names_convert(home, capsys):
    longest = _png(home / "in" / f"{'b' * 251}.png")  # 255 characters, the most there is
    long = _png(home / "in" / f"{'a' * 246}.png")  # 250: its .NAME.part name was too long
    argv = ["convert", str(long), str(longest), str(longest), "-o", str(home / "out")]
    assert main(argv) == 0
    written = sorted(path.name for path in (home / "out").iterdir())
    assert written == [f"{'a' * 246}.dcm", f"{'b' * 249}-2.dcm", f"{'b' * 251}.dcm"]
    assert _errors(capsys.readouterr()) == []


def test_convert_onto_a_full_disk_says_so_per_file_and_goes_on(home, capsys):
    sources = [_png(home / "in" / f"big{n}.png", (400, 500), n) for n in range(6)]
    small = _png(home / "in" / "small.png")
    with tmpfs(home / "disk", "1M") as disk:
        status = main(["convert", *map(str, sources), str(small), "-o", str(disk / "out")])
        written = sorted(path.name for path in (disk / "out").iterdir())
    assert status == 1
    errors = _errors(capsys.readouterr())
    assert errors == [
        f"ezp2p: {home}/in/big5.png: cannot write {disk}/out/big5.dcm: No space left on device",
        "ezp2p: 1 of 7 files failed",
    ]
    assert written == ["big0.dcm", "big1.dcm", "big2.dcm", "big3.dcm", "big4.dcm", "small.dcm"]


def test_convert_into_a_read_only_folder_is_one_line(home, capsys):
    source = _png(home / "in" / "a.png")
    with tmpfs(home / "disk") as disk:
        remount(disk, "ro")
        try:
            assert main(["convert", str(source), "-o", str(disk / "new")]) == 1
            assert main(["convert", str(source), "-o", str(disk)]) == 1
        finally:
            remount(disk, "rw")
    assert _errors(capsys.readouterr()) == [
        f"ezp2p: error: cannot write {disk}/new: Read-only file system",
        f"ezp2p: {source}: cannot write {disk}/a.dcm: Read-only file system",
        "ezp2p: 1 of 1 files failed",
    ]


def test_send_with_the_outbox_on_a_full_disk_sends_what_fits(home, storescp, monkeypatch, capsys):
    sources = [_png(home / "in" / f"big{n}.png", (400, 500), n) for n in range(6)]
    with tmpfs(home / "disk", "1M") as disk:
        monkeypatch.setenv("EZP2P_OUTBOX", str(disk / "outbox"))
        status = main(["send", *map(str, sources), "--to", storescp.destination.address])
        with Outbox(disk / "outbox") as outbox:
            states = [entry.state for entry in outbox.list()]
        fill(disk)  # and when even the database cannot grow:
        again = main(["send", str(sources[0]), "--to", storescp.destination.address])
    assert status == 1 and again == 1
    captured = capsys.readouterr()
    errors = _errors(captured)
    full = [line for line in errors if "No space left on device" in line]
    assert len(full) == 6 - len(states) >= 1
    assert f"{storescp.destination.address}: {len(states)} sent, {len(full)} not sent" in (
        captured.out
    )
    assert states == ["sent"] * len(states)
    assert len(storescp.received()) == len(states)
    assert errors[-1].startswith(f"ezp2p: error: cannot open the outbox in {disk}/outbox: ")
    assert errors[-1].endswith("(the disk is full)")


@pytest.mark.parametrize("command", [["queue", "list"], ["queue", "retry"], ["send", "-"]])
def test_an_outbox_on_a_read_only_disk_is_one_line(home, monkeypatch, capsys, command):
    source = _png(home / "a.png")
    command = [str(source) if word == "-" else word for word in command]
    with tmpfs(home / "disk") as disk:
        Outbox(disk / "outbox").close()
        monkeypatch.setenv("EZP2P_OUTBOX", str(disk / "outbox"))
        remount(disk, "ro")
        try:
            assert main([*command, "--to", "X@127.0.0.1:1"] if "send" in command else command) == 1
        finally:
            remount(disk, "rw")
    assert _errors(capsys.readouterr()) == [
        f"ezp2p: error: cannot open the outbox in {disk}/outbox: Read-only file system"
    ]


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_serve_on_a_port_out_of_range_creates_nothing(home, capsys, port):
    storage = home / "storage"
    assert main(["serve", "--port", port, "--storage", str(storage)]) == 1
    assert _errors(capsys.readouterr()) == [
        f"ezp2p: error: --port {port} is not a TCP port: use 1 to 65535 (0: any free port)"
    ]
    assert not storage.exists()


def _killed_while_converting(home: Path) -> int:
    """An ``ezp2p send`` of many images SIGKILLed once it has written a few outbox files
    and before it commits their rows; how many files it left."""
    for n in range(60):
        _png(home / "in" / f"image{n:03d}.png", (768, 1024), n)
    instances = home / "outbox" / "instances"
    argv = [EZP2P, "send", str(home / "in"), "--to", "NOBODY@127.0.0.1:1"]
    sender = subprocess.Popen(argv, env=os.environ, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not instances.is_dir() or len(list(instances.iterdir())) < 4:
        assert sender.poll() is None, sender.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    sender.send_signal(signal.SIGKILL)
    sender.wait()
    with Outbox(home / "outbox") as outbox:
        assert outbox.list() == [], "rows were committed before the kill: nothing was tested"
    return len(list(instances.iterdir()))


@pytest.mark.parametrize(
    "command",
    [["queue", "list"], ["queue", "retry"], ["send", "another.png", "--to", "X@127.0.0.1:1"]],
)
def test_what_a_process_killed_while_converting_left_is_cleaned_and_said(home, command):
    left = _killed_while_converting(home)
    _png(home / "another.png")
    result = subprocess.run(
        [EZP2P, *command], env=os.environ, capture_output=True, text=True, cwd=home
    )
    assert f"ezp2p: cleaned {left} files left in the outbox by a process that was killed" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    with Outbox(home / "outbox") as outbox:
        queued = {entry.path for entry in outbox.list()}
    assert set((home / "outbox" / "instances").iterdir()) == queued  # "send" queued one
    assert list((home / "outbox" / "writers").iterdir()) == []
