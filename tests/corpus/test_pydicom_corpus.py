"""pydicom's bundled DICOM files, all in one ``ezp2p send`` to storescp and Orthanc.

File by file and peer by peer, each file either arrived, in its own transfer syntax,
with its data set intact, or has an outcome whose reason is the one
:data:`EXPECTED_REFUSALS` (or :data:`DUPLICATE_REASON`) gives it; nothing after a
refused file is held back, and the command names every file it did not send.

"Intact" is what each peer can promise. storescp runs bit-preserving (``+B``): the data
set it wrote is byte for byte the file's (after its preamble and meta), padded to an
even length as the network carries it. Orthanc 1.10 encodes what it received again
(dcmtk): it writes its own meta, drops group lengths and gives every sequence and item
an explicit length, so there the same elements must have the same values (raw bytes,
Pixel Data included) in the same transfer syntax.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pydicom
from pydicom.errors import InvalidDicomError

from napari_ezp2p.cli import main
from napari_ezp2p.outbox import QUEUED, SENDING, Entry, Outbox
from tests.corpus.helpers import (
    Arrived,
    corpus_files,
    corpus_name,
    dataset_bytes,
    padded,
    reencoded,
    stored_by_orthanc,
    stored_by_storescp,
)

STORESCP, ORTHANC = "storescp", "orthanc"
BOTH = (STORESCP, ORTHANC)


class Refusal(NamedTuple):
    """A refusal that is right for good: by ``peers``, with a reason that contains
    ``reason`` (case-insensitive) or matches it (a pattern), legitimate because ``why``."""

    peers: tuple[str, ...]
    reason: str | re.Pattern
    why: str


_NO_INSTANCE = Refusal(
    BOTH,
    "SOP Instance UID",
    "its data set has no SOP Class and SOP Instance UID: a fragment, not a composite "
    "instance any peer can store",
)
_NO_INDEX = Refusal(
    (ORTHANC,),
    "0xA700",
    "Orthanc indexes by study and series and refuses an instance without Study and "
    "Series Instance UIDs ('required tags ... are missing'). The issue counts 0xA700 as "
    "transient, so the entry may stay failed in backoff, with that reason",
)

#: Corpus name -> its refusal. Everything else must arrive intact at both peers.
EXPECTED_REFUSALS: dict[str, Refusal] = {
    "UN_sequence.dcm": _NO_INSTANCE,
    "dicomdirtests/DICOMDIR": _NO_INSTANCE,  # a DICOMDIR is a file-set's directory
    "dicomdirtests/DICOMDIR-bigEnd": _NO_INSTANCE,
    "dicomdirtests/DICOMDIR-empty.dcm": _NO_INSTANCE,
    "dicomdirtests/DICOMDIR-implicit": _NO_INSTANCE,
    "dicomdirtests/DICOMDIR-nooffset": _NO_INSTANCE,
    "dicomdirtests/DICOMDIR-nopatient": _NO_INSTANCE,
    "dicomdirtests/DICOMDIR-reordered": _NO_INSTANCE,
    "dicomdirtests/TINY_ALPHA/DICOMDIR": _NO_INSTANCE,
    "empty_charset_LEI.dcm": _NO_INSTANCE,
    "meta_missing_tsyntax.dcm": _NO_INSTANCE,
    "nested_priv_SQ.dcm": _NO_INSTANCE,
    "no_meta_group_length.dcm": _NO_INSTANCE,
    "priv_SQ.dcm": _NO_INSTANCE,
    "no_meta.dcm": Refusal(
        BOTH,
        re.compile(r"DICOM|SOP Instance UID"),
        "CT_small.dcm without its meta and with one stray byte before its first element: "
        "neither pydicom nor dcmtk can read it (a DICOM-specific reason, not 'not an image')",
    ),
    "SC_rgb_jpeg.dcm": Refusal(
        (ORTHANC,),
        "abort",
        "its meta says JPEG Baseline, explicit VR, but its data set is implicit VR "
        "(highdicom 0.1.0): dcmtk cannot parse it, so Orthanc aborts the association "
        "(storescp +B stores the bytes without parsing them)",
    ),
    "JPEGLSNearLossless_08.dcm": _NO_INDEX,
    "JPEGLSNearLossless_16.dcm": _NO_INDEX,
    "SC_rgb_jls_lossy_line.dcm": _NO_INDEX,
    "SC_rgb_jls_lossy_sample.dcm": _NO_INDEX,
}

#: A file whose SOP Instance UID an earlier file of the send has, with other data set
#: bytes, is refused (a peer keeps one object per UID) with a reason saying so.
DUPLICATE_REASON = re.compile(r"already|duplicate|--replace", re.IGNORECASE)

#: Outbox states that are no outcome: the entry waits for this very send.
WAITING = (QUEUED, SENDING)


@dataclass(frozen=True)
class Source:
    """One corpus file, in the order of the send."""

    path: Path
    name: str
    uid: str | None  # its data set's SOP Instance UID
    dataset: bytes  # its data set as the network carries it
    syntax: str  # its meta's Transfer Syntax UID ('' without one)
    elements: list  # see helpers.elements

    @classmethod
    def of(cls, path: Path) -> Source:
        data = path.read_bytes()
        syntax, elements = reencoded(data)
        try:
            uid = pydicom.dcmread(path, force=True, stop_before_pixels=True).get("SOPInstanceUID")
        except (InvalidDicomError, ValueError, EOFError):
            uid = None
        dataset = padded(dataset_bytes(data))
        return cls(path, corpus_name(path), str(uid) if uid else None, dataset, syntax, elements)


def later_duplicates(sources: list[Source]) -> dict[str, str]:
    """Corpus name -> the earlier file whose UID it has, with other data set bytes."""
    first: dict[str, Source] = {}
    later = {}
    for source in sources:
        if source.uid is not None:
            earlier = first.setdefault(source.uid, source)
            if earlier.dataset != source.dataset:
                later[source.name] = earlier.name
    return later


def same_bytes(source: Source, copy: Arrived) -> str:
    """How storescp's copy differs from the source ('' when it does not)."""
    got, expected = copy.dataset, source.dataset
    if got == expected:
        return ""
    pairs = zip(expected, got, strict=False)
    at = next((n for n, (a, b) in enumerate(pairs) if a != b), min(len(expected), len(got)))
    return f"data set differs: {len(got)} bytes instead of {len(expected)}, from byte {at}"


def same_elements(source: Source, copy: Arrived) -> str:
    """How Orthanc's copy differs from the source ('' when it does not)."""
    syntax, elements = reencoded(copy.file)
    if source.syntax and syntax != source.syntax:
        return f"stored in {syntax}, not in its own {source.syntax}"
    if elements != source.elements:
        changed = [str(a[0]) for a, b in zip(source.elements, elements, strict=False) if a != b]
        return f"elements differ ({len(elements)} for {len(source.elements)}): {changed[:3]}"
    return ""


@dataclass
class Target:
    """One peer of the send, what it holds, and how a copy there is judged."""

    name: str
    address: str
    arrived: dict[str, list[Arrived]]  # by SOP Instance UID
    entries: list[Entry]  # the outbox's entries for it
    differs: Callable[[Source, Arrived], str]


class Verdicts:
    """What each file became at each peer; ``problems`` lists what is wrong."""

    def __init__(self, sources: list[Source], stderr: str) -> None:
        self.sources = sources
        self.stderr = stderr.splitlines()
        self.duplicates = later_duplicates(sources)
        self.problems: list[str] = []

    def judge_all(self, peer: Target) -> int:
        """Judge every file at ``peer``; how many arrived intact."""
        arrived, first_stuck = 0, None  # the first entry the peer did not get
        for source in self.sources:
            if self.judge(source, peer, first_stuck):
                arrived += 1
            elif first_stuck is None and self.entry_of(source, peer) is not None:
                first_stuck = source.name
        return arrived

    def judge(self, source: Source, peer: Target, behind: str | None) -> bool:
        """Record what is wrong with ``source`` at ``peer`` (``behind``: the first file
        before it that was queued and did not arrive there); True when it arrived intact."""
        copies = peer.arrived.get(source.uid, []) if source.uid else []
        intact = [copy for copy in copies if not peer.differs(source, copy)]
        entry = self.entry_of(source, peer)
        where = f"{source.name} at {peer.name}"
        expected = self.refusal(source, peer.name)
        if expected is None:
            for copy in copies:
                if difference := peer.differs(source, copy):
                    self.problems.append(f"{where}: {difference}")
            if not copies:
                held = f" (held back behind {behind})" if behind and entry else ""
                self.problems.append(
                    f"{where}: not delivered{held}: {self.outcome(source, entry)}"
                )
            return bool(copies) and len(intact) == len(copies)
        reason, why = expected.reason, expected.why
        if intact and entry is not None:  # sent from our outbox (a peer that keeps only
            # values, as Orthanc, also holds a later duplicate equal by value to the first)
            self.problems.append(f"{where}: delivered, though it should be refused ({why})")
            return True
        if entry is not None and entry.state in WAITING:
            self.problems.append(
                f"{where}: left {entry.state}, expected refused ({why}): {entry.last_message}"
            )
            return False
        said = self.outcome(source, entry)
        if not _says(reason, said):
            wanted = getattr(reason, "pattern", reason)
            self.problems.append(f"{where}: {said!r} does not say {wanted!r} ({why})")
        return False

    def refusal(self, source: Source, peer: str) -> Refusal | None:
        """How ``peer`` rightly does not get ``source``, if it does not."""
        refusal = EXPECTED_REFUSALS.get(source.name)
        if refusal is not None and peer in refusal.peers:
            return refusal
        if source.name in self.duplicates:
            first = self.duplicates[source.name]
            return Refusal(BOTH, DUPLICATE_REASON, f"{first} came first with its UID")
        return None

    def entry_of(self, source: Source, peer: Target) -> Entry | None:
        """The outbox entry that holds this file's data set for ``peer``."""
        for entry in peer.entries:
            if (
                entry.sop_instance_uid == source.uid
                and entry.path.exists()
                and padded(dataset_bytes(entry.path.read_bytes())) == source.dataset
            ):
                return entry
        return None

    def outcome(self, source: Source, entry: Entry | None) -> str:
        """The state and reason of the file's entry, else what the command said of it."""
        if entry is not None:
            return f"{entry.state}: {entry.last_message}"
        lines = [line for line in self.stderr if str(source.path) in line]
        return " | ".join(lines) or "nothing said about it"


def _says(reason: str | re.Pattern, message: str) -> bool:
    if isinstance(reason, re.Pattern):
        return bool(reason.search(message))
    return reason.lower() in message.lower()


def test_pydicom_corpus_arrives_intact_or_is_refused_for_a_reason(
    tmp_path, monkeypatch, corpus_storescp, orthanc, capsys
):
    paths = corpus_files(monkeypatch)
    sources = [Source.of(path) for path in paths]
    names = {source.name for source in sources}
    assert set(EXPECTED_REFUSALS) <= names, "EXPECTED_REFUSALS names files not in the corpus"
    pacs = orthanc()
    monkeypatch.setenv("EZP2P_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("EZP2P_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.delenv("EZP2P_AET", raising=False)
    scp_address, pacs_address = corpus_storescp.destination.address, pacs.destination.address

    status = main(["send", *map(str, paths), "--to", scp_address, "--to", pacs_address])
    out, err = capsys.readouterr()

    with Outbox(tmp_path / "outbox") as outbox:
        entries = outbox.list()
    peers = [
        Target(STORESCP, scp_address, stored_by_storescp(corpus_storescp), [], same_bytes),
        Target(ORTHANC, pacs_address, stored_by_orthanc(pacs), [], same_elements),
    ]
    verdicts = Verdicts(sources, err)
    for peer in peers:
        peer.entries = [entry for entry in entries if entry.address == peer.address]
        arrived = verdicts.judge_all(peer)
        if not re.search(rf"^{re.escape(peer.address)}: {arrived} sent\b", out, re.M):
            verdicts.problems.append(f"{peer.name}: {arrived} arrived, the command says {out!r}")
    if status != 1:  # some files are refused for good
        verdicts.problems.append(f"exit status {status}")
    assert not verdicts.problems, (
        f"{len(verdicts.problems)} problems with {len(sources)} files:\n"
        + "\n".join(verdicts.problems)
        + f"\n--- stdout:\n{out}--- stderr:\n{err}"
    )
