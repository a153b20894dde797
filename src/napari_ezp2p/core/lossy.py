"""Lossy Image Compression history (PS3.3 C.7.6.1.1.5): the method of each lossy transfer
syntax, whether an encapsulated codestream lost information, and the three attributes.

A history is one (method, ratio) per lossy step, oldest first: Lossy Image Compression
Method and Ratio list them in that order, value for value. dciodvfy warns "method
inconsistent with Transfer Syntax" when Pixel Data in a lossy syntax lists any method
but that syntax's own, so :func:`check_lossy_step` refuses a second lossy step of another
method: native and lossless syntaxes carry any history.
"""

from __future__ import annotations

import copy

from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.pixels.utils import get_expected_length
from pydicom.uid import JPEG2000, UID, JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLSNearLossless

from .errors import ConversionError
from .jpegsegments import segments

#: The Lossy Image Compression Method of each lossy syntax we write and read.
LOSSY_METHODS: dict[str, str] = {
    JPEGBaseline8Bit: "ISO_10918_1",
    JPEGExtended12Bit: "ISO_10918_1",
    JPEGLSNearLossless: "ISO_14495_1",
    JPEG2000: "ISO_15444_1",
}

History = list[tuple[str, str]]  # (method, ratio as written in Decimal String)

_KEYWORDS = (
    "LossyImageCompression",
    "LossyImageCompressionRatio",
    "LossyImageCompressionMethod",
)
_J2K_COD, _J2K_SOT, _REVERSIBLE = 0xFF52, 0xFF90, 1


def check_lossy_step(history_method: str | None, syntax: UID, label: str, lossless: str) -> None:
    """Refuse a lossy encoding in ``syntax`` of an image already lossy by another method.

    ``lossless`` names the syntaxes to suggest instead. The history would list both
    methods, as the standard says, and the syntax would contradict the older one.
    """
    method = LOSSY_METHODS.get(syntax)
    if history_method and method and history_method != method:
        raise ConversionError(
            f"the image is already lossy compressed ({history_method}); {label} would add a "
            f"second lossy step ({method}) that its transfer syntax contradicts: "
            f"choose {lossless}"
        )


def ratio_text(ratio: float) -> str:
    """A compression ratio as Lossy Image Compression Ratio writes it."""
    return f"{ratio:.2f}"


def set_lossy_history(ds: Dataset, history: History) -> None:
    """Lossy Image Compression "01" with one Method and Ratio per step, or none of the
    three (Type 3: "00" would claim a history nobody knows)."""
    if not history:
        for keyword in _KEYWORDS:
            if keyword in ds:
                delattr(ds, keyword)
        return
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = [ratio for _, ratio in history]
    ds.LossyImageCompressionMethod = [method for method, _ in history]


def copy_history_decoded(source: Dataset, out: Dataset) -> None:
    """Give ``out`` (``source`` decoded into a lossless syntax) the lossy history of
    ``source``, plus a step for the encoding it came in when that lost information and
    is not the last step recorded."""
    for keyword in _KEYWORDS:
        if keyword in source:
            out[keyword] = copy.deepcopy(source[keyword])
        elif keyword in out:
            del out[keyword]
    syntax = source.file_meta.TransferSyntaxUID
    method = LOSSY_METHODS.get(syntax)
    if method is None or "PixelData" not in source:
        return
    methods = list(_values(source, "LossyImageCompressionMethod"))
    recorded = source.get("LossyImageCompression") == "01" and methods[-1:] == [method]
    frames = int(source.get("NumberOfFrames", 1) or 1)
    encoded = list(generate_frames(source.PixelData, number_of_frames=frames))
    if recorded or not _lost_information(syntax, encoded[0] if encoded else b""):
        return
    ratio = get_expected_length(source, "bytes") / (sum(map(len, encoded)) or 1)
    ratios = list(_values(source, "LossyImageCompressionRatio"))
    out.LossyImageCompression = "01"
    out.LossyImageCompressionMethod = [*methods, method]
    out.LossyImageCompressionRatio = [*ratios, ratio_text(ratio)]


def _values(ds: Dataset, keyword: str) -> list[str]:
    if keyword not in ds or ds[keyword].VM == 0:
        return []
    value = ds[keyword].value
    return [str(v) for v in value] if ds[keyword].VM > 1 else [str(value)]


def _lost_information(syntax: UID, codestream: bytes) -> bool:
    """Whether the first frame's ``codestream`` in lossy ``syntax`` lost information:
    always for JPEG's DCT processes; JPEG-LS when its scan's NEAR is not 0; JPEG 2000
    when its COD marker names the irreversible 9-7 wavelet (a reversible codestream
    counts as lossless: whether its layers were cut cannot be seen from the markers)."""
    if syntax == JPEGLSNearLossless:
        for segment in segments(codestream):
            if segment.marker == 0xDA:  # SOS: Ns, Ns x (id, mapping table), NEAR, ...
                body = segment.body(codestream)
                count = body[0] if body else 0
                return len(body) > 1 + 2 * count and body[1 + 2 * count] != 0
        return True
    if syntax == JPEG2000:
        return _j2k_transform(codestream) != _REVERSIBLE
    return True


def _j2k_transform(codestream: bytes) -> int | None:
    """The wavelet transform the COD marker of a J2K main header names (0 = 9-7
    irreversible, 1 = 5-3 reversible), or None when there is none before the first tile."""
    pos = 2  # after SOC
    while pos + 4 <= len(codestream):
        marker = int.from_bytes(codestream[pos : pos + 2], "big")
        if marker == _J2K_SOT:
            return None
        if marker == _J2K_COD:
            # marker, Lcod, Scod, SGcod (4 bytes), then SPcod: levels, code-block
            # width, height and style, and the transform.
            return codestream[pos + 13] if pos + 13 < len(codestream) else None
        pos += 2 + int.from_bytes(codestream[pos + 2 : pos + 4], "big")
    return None
