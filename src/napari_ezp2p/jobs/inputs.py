"""What a send or a convert takes: files found in folders, and the object each becomes.

Every file in a folder is an input: one that is none of the kinds we take fails with
its reason, like a file given by name, so that nothing is skipped silently. An image
is encoded once, in one transfer syntax chosen by :class:`SyntaxChoice`, and
that one object (one SOP Instance UID) goes to every destination.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydicom import Dataset

from ..core.errors import Ezp2pError
from ..core.files import is_dicom_file
from ..core.image import SourceImage
from ..core.metadata import Metadata
from ..core.part10 import DicomFile, NotDicomError, read_dicom_file
from ..core.transfer import TransferSyntax, transfer_syntax
from ..net.destination import Destination

#: The syntax of an image when nothing else is asked for: every peer takes it.
PLAIN_SYNTAX = "explicit-le"


#: Names of DICOM files: a file so named that cannot be read is refused as DICOM.
DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic"})
NOT_AN_INPUT = "not an image, video, PDF or DICOM file"
#: ``on_frame(frames encoded, frames)``.
OnFrame = Callable[[int, int], None]


def collect_inputs(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """Files as given, and every file inside folders (sorted, recursive); then the
    hidden files left out of those folders (a name, or a folder's, starting with "."
    below the folder given: ``.DS_Store``, an editor's or a sync tool's files)."""
    found: list[Path] = []
    hidden: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            found.append(path)
            continue
        for inner in sorted(path.rglob("*")):
            if inner.is_file():
                parts = inner.relative_to(path).parts
                (hidden if any(part.startswith(".") for part in parts) else found).append(inner)
    return found, hidden


@dataclass(frozen=True)
class SyntaxChoice:
    """How the images of one send or convert are encoded.

    ``asked`` is the syntax the user chose for this job (``--ts``, the Send dock), which
    every image gets. Without one, an image keeps what its source is: a JPEG goes as
    JPEG (Baseline or Extended, as its frame header says), its bitstream unchanged;
    anything else goes explicit VR little endian, or in the lossless compressed syntax
    that every destination prefers. A destination's lossy preference never makes an
    image lossy: the sender gives each destination its preferred syntax only when
    reaching it loses nothing.
    """

    asked: TransferSyntax | None = None
    preferred: TransferSyntax | None = None

    @classmethod
    def of(cls, asked: str | None, destinations: Sequence[Destination] = ()) -> SyntaxChoice:
        """The choice for a job: ``asked`` is a syntax key or UID, or empty."""
        if asked:
            return cls(transfer_syntax(asked))
        wanted = {destination.transfer_syntax for destination in destinations}
        if len(wanted) == 1 and (key := wanted.pop()):
            common = transfer_syntax(key)
            if common.lossless and common.encapsulated:
                return cls(preferred=common)
        return cls()

    @property
    def compresses(self) -> bool:
        """Whether images may be encoded in a compressed syntax (worth a process pool)."""
        return any(ts is not None and ts.encapsulated for ts in (self.asked, self.preferred))

    def for_image(self, image: SourceImage) -> TransferSyntax:
        """The syntax ``image`` is encoded in."""
        from ..core.pixels import jpeg_syntax_as_it_is

        if self.asked is not None:
            return self.asked
        return jpeg_syntax_as_it_is(image) or self.preferred or transfer_syntax(PLAIN_SYNTAX)


def object_for_file(
    path: Path,
    meta: Metadata,
    syntax: SyntaxChoice,
    number: int,
    now: datetime,
    on_frame: OnFrame | None = None,
) -> Dataset | DicomFile:
    """What a file becomes: a PDF becomes an Encapsulated PDF object, an image a
    Secondary Capture object, a video a multi-frame SC clip (Conversion Type DV, with
    its frame time); a DICOM file, with or without its preamble and file meta, goes as
    it is (its header comes back). Ezp2pError says why a file is none of these."""
    if is_dicom_file(path):
        return read_dicom_file(path)
    # A DICOM file goes as it is: what reads and encodes the others is imported for them.
    from ..capture.clip import read_video
    from ..capture.pdf import is_pdf_file, read_pdf
    from ..capture.video import is_video_file
    from ..core.imageio import SUFFIXES as IMAGE_SUFFIXES
    from ..core.imageio import is_supported_image, read_image
    from ..core.pdf import build_encapsulated_pdf

    if is_pdf_file(path):
        return build_encapsulated_pdf(
            read_pdf(path), meta, document_title=path.stem, now=now, instance_number=number
        )
    if is_supported_image(path) or path.suffix.lower() in IMAGE_SUFFIXES:
        return object_for_image(read_image(path), meta, syntax, number, now, on_frame)
    if is_video_file(path):
        clip = read_video(path)
        meta = dataclasses.replace(meta, frame_time_ms=clip.frame_time_ms)
        return object_for_image(clip.image, meta, syntax, number, now, on_frame)
    try:
        return read_dicom_file(path)  # a data set without preamble and file meta
    except NotDicomError as error:
        if path.suffix.lower() in DICOM_SUFFIXES:
            raise
        raise Ezp2pError(NOT_AN_INPUT) from error


def object_for_image(
    image: SourceImage,
    meta: Metadata,
    syntax: SyntaxChoice,
    number: int,
    now: datetime,
    on_frame: OnFrame | None = None,
) -> Dataset:
    """The Secondary Capture object of ``image``, in the syntax ``syntax`` gives it
    (``on_frame(frames encoded, frames)`` follows the encoding)."""
    from ..core.sc import build_sc

    ts = syntax.for_image(image)
    return build_sc(image, meta, ts, instance_number=number, now=now, on_frame=on_frame)
