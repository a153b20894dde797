"""The Image Pixel module of a dataset: attributes plus Pixel Data in a chosen transfer syntax.

Decisions, per transfer syntax (grey is always MONOCHROME2):

- native (implicit-le, explicit-le, explicit-be): colour is RGB, planar configuration 0.
  Big endian swaps 16-bit samples itself (pydicom writes OB/OW bytes as given); 8-bit data
  is OB in explicit VR, so it needs no swapping.
- jpeg-baseline / jpeg-extended (libjpeg-turbo, quality ``JPEG_QUALITY``): colour is
  YCbCr 4:2:0, so YBR_FULL_422. jpeg-extended carries 16-bit data as 12-bit precision,
  so Bits Stored is 12 there. A source JPEG bitstream (8-bit SOF0, or SOF1 for
  jpeg-extended) is encapsulated as it is, with the photometric interpretation its
  markers say: MONOCHROME2, RGB (Adobe transform 0 or component ids R, G, B), else
  YBR_FULL_422, even for 4:4:4 (see ``JpegHeader.photometric``). Its Lossy Image
  Compression is the source's, not a second step.
- jpeg-lossless (process 14): grey by liblj92 (predictor 6), colour by libjpeg-turbo
  (predictor 1, which process 14 allows too); jpeg-lossless-sv1: libjpeg-turbo,
  predictor 1. Colour is RGB (no colour transform).
- jpeg-ls / jpeg-ls-near (CharLS, NEAR=``JPEG_LS_NEAR``): colour RGB. CharLS writes 16-bit
  data with precision 16 and near-lossless may then exceed the source's range by NEAR,
  so jpeg-ls-near stores 16 bits for 16-bit data.
- rle (pylibjpeg-rle): colour RGB.
- j2k-lossless / j2k (OpenJPEG, J2K codestream): colour goes through the multi-component
  transform, so YBR_RCT (reversible) / YBR_ICT (irreversible, PSNR ``J2K_PSNR`` dB).

Lossy Image Compression (:mod:`.lossy`): "01" with Method and Ratio (one value per lossy
step, oldest first) when the source's history (``SourceImage.lossy_compression``) or this
encoding is lossy. Otherwise the three attributes are left out (Type 3): "00" would claim
a history nobody knows. An image already lossy by one method is not encoded in a lossy
syntax of another (JPEG 2000 over a JPEG): its history would contradict the syntax.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import imagecodecs
import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from rle.utils import encode_pixel_data as rle_encode

from .errors import ConversionError
from .image import SourceImage
from .jpegsegments import segments, without_metadata
from .lossy import LOSSY_METHODS, History, check_lossy_step, ratio_text, set_lossy_history
from .transfer import TransferSyntax, transfer_syntax

JPEG_QUALITY = 90
JPEG_LS_NEAR = 2
J2K_PSNR = 50

_THREADS = os.cpu_count() or 1


def _jpeg(frame: np.ndarray, bits: int) -> bytes:
    if frame.ndim == 3:
        return imagecodecs.jpeg8_encode(frame, level=JPEG_QUALITY, subsampling="420")
    return imagecodecs.jpeg8_encode(
        frame, level=JPEG_QUALITY, bitspersample=12 if frame.itemsize == 2 else 8
    )


def _jpeg_lossless_sv1(frame: np.ndarray, bits: int) -> bytes:
    bits = None if frame.ndim == 3 else max(bits, 2)
    return imagecodecs.jpeg8_encode(frame, lossless=True, predictor=1, bitspersample=bits)


def _jpeg_lossless(frame: np.ndarray, bits: int) -> bytes:
    if frame.ndim == 3:  # liblj92 is grey only
        return _jpeg_lossless_sv1(frame, bits)
    return imagecodecs.ljpeg_encode(frame, bitspersample=bits)


def _jpeg_ls(near: int) -> Callable[[np.ndarray, int], bytes]:
    def encode(frame: np.ndarray, bits: int) -> bytes:
        # CharLS's default buffer is too small for incompressible data (noise).
        return imagecodecs.jpegls_encode(frame, level=near, out=frame.nbytes * 5 // 4 + 4096)

    return encode


def _rle(frame: np.ndarray, bits: int) -> bytes:
    rows, columns = frame.shape[:2]
    return rle_encode(
        memoryview(frame).cast("B"),
        rows=rows,
        columns=columns,
        samples_per_pixel=1 if frame.ndim == 2 else 3,
        bits_allocated=frame.itemsize * 8,
        byteorder="<",
    )


def _j2k(reversible: bool) -> Callable[[np.ndarray, int], bytes]:
    def encode(frame: np.ndarray, bits: int) -> bytes:
        return imagecodecs.jpeg2k_encode(
            frame,
            level=None if reversible else J2K_PSNR,
            codecformat="J2K",
            reversible=reversible,
            bitspersample=bits,
            mct=frame.ndim == 3,
            numthreads=_THREADS,
        )

    return encode


@dataclass(frozen=True)
class _Codec:
    encode: Callable[[np.ndarray, int], bytes]  # (frame as (rows, cols[, 3]), bits) -> bytes
    colour: str  # photometric interpretation of colour output
    max_bits: int  # most Bits Stored the syntax carries


_CODECS: dict[str, _Codec] = {
    "jpeg-baseline": _Codec(_jpeg, "YBR_FULL_422", 8),
    "jpeg-extended": _Codec(_jpeg, "YBR_FULL_422", 12),
    "jpeg-lossless": _Codec(_jpeg_lossless, "RGB", 16),
    "jpeg-lossless-sv1": _Codec(_jpeg_lossless_sv1, "RGB", 16),
    "jpeg-ls": _Codec(_jpeg_ls(0), "RGB", 16),
    "jpeg-ls-near": _Codec(_jpeg_ls(JPEG_LS_NEAR), "RGB", 16),
    "rle": _Codec(_rle, "RGB", 16),
    "j2k-lossless": _Codec(_j2k(True), "YBR_RCT", 16),
    "j2k": _Codec(_j2k(False), "YBR_ICT", 16),
}

_SUGGESTION = "a lossless syntax such as jpeg-ls, j2k-lossless or explicit-le"
_LOSSLESS_SIBLING = {"j2k": "j2k-lossless", "jpeg-ls-near": "jpeg-ls"}


def set_pixel_data(
    ds: Dataset,
    image: SourceImage,
    ts: TransferSyntax,
    *,
    multiframe: bool | None = None,
    on_frame: Callable[[int, int], None] | None = None,
) -> None:
    """Set the Image Pixel module, Pixel Data and Transfer Syntax UID of ``ds`` for ``image``.

    ``multiframe`` forces Number of Frames on (True) or forbids more than one frame
    (False); by default it is written when there is more than one frame.
    Raises ConversionError, before encoding anything, for data ``ts`` cannot carry.
    ``on_frame(frames encoded, frames)`` follows a compressed encoding frame by frame.
    """
    codec = _CODECS.get(ts.key)
    _check(image, ts, codec, multiframe)
    bits_allocated = image.dtype.itemsize * 8
    bits_stored = image.bits_stored
    colour = "RGB"
    history: History = []
    if image.lossy_compression:
        method, ratio = image.lossy_compression
        history.append((method, ratio_text(ratio)))

    if codec is None:
        pixel_data, vr = _native(image.pixels, ts)
    else:
        vr = "OB"
        colour = codec.colour
        bits_stored = _encoded_bits(image, ts)
        passthrough = _passthrough(image, ts)
        if passthrough:
            fragments = [without_metadata(image.jpeg_bitstream)]
            colour = passthrough
        else:
            fragments = []
            for i in range(image.frames):
                fragments.append(codec.encode(_frame(image, i), bits_stored))
                if on_frame is not None:
                    on_frame(i + 1, image.frames)
        ratio = image.nbytes / sum(len(f) for f in fragments)
        method = LOSSY_METHODS.get(ts.uid)
        if (method and not passthrough) or (passthrough and not history):
            history.append((method, ratio_text(ratio)))
        pixel_data = encapsulate(fragments, has_bot=True)

    ds.SamplesPerPixel = image.samples
    ds.PhotometricInterpretation = colour if image.is_colour else "MONOCHROME2"
    ds.Rows = image.rows
    ds.Columns = image.columns
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    _set_or_delete(ds, "PlanarConfiguration", 0 if image.is_colour else None)
    frames = image.frames if multiframe or image.frames > 1 else None
    _set_or_delete(ds, "NumberOfFrames", frames)
    set_lossy_history(ds, history)
    ds.add_new(0x7FE00010, vr, pixel_data)
    # Encapsulated Pixel Data has an undefined length; pydicom marks it so when it reads
    # a file, not when it is set, and pynetdicom writes the element as it finds it.
    ds["PixelData"].is_undefined_length = codec is not None
    ds.file_meta.TransferSyntaxUID = ts.uid


def _encoded_bits(image: SourceImage, ts: TransferSyntax) -> int:
    """Bits Stored of the encoded data: the codec's sample precision where it is fixed."""
    if image.dtype == np.uint16:
        if ts.key == "jpeg-extended":
            return 12
        if ts.key == "jpeg-ls-near":  # CharLS precision 16: NEAR may overshoot a smaller range
            return 16
    return image.bits_stored


def _check(
    image: SourceImage, ts: TransferSyntax, codec: _Codec | None, multiframe: bool | None
) -> None:
    if multiframe is False and image.frames > 1:
        raise ConversionError(
            f"{image.frames} frames need a multi-frame object; this one is single-frame"
        )
    if max(image.rows, image.columns) > 0xFFFF:
        raise ConversionError(
            f"Rows and Columns are at most 65535, the image is {image.rows}x{image.columns}"
        )
    if codec is None:
        return
    if image.lossy_compression:
        lossless = _LOSSLESS_SIBLING.get(ts.key, _SUGGESTION)
        if as_it_is := jpeg_syntax_as_it_is(image):
            lossless += f", or {as_it_is.key}, which carries the JPEG as it is"
        check_lossy_step(image.lossy_compression[0], ts.uid, f"{ts.label} ({ts.key})", lossless)
    if ts.key == "jpeg-baseline" and image.dtype != np.uint8:
        hint = "jpeg-extended" if image.bits_stored <= 12 else _SUGGESTION
        raise ConversionError(
            f"{ts.label} ({ts.key}) carries 8-bit data only, this image has "
            f"{image.bits_stored} bits stored: choose {hint}"
        )
    if image.bits_stored > codec.max_bits:
        raise ConversionError(
            f"{ts.label} ({ts.key}) carries at most {codec.max_bits} bits, this image has "
            f"{image.bits_stored} bits stored: choose {_SUGGESTION}"
        )


def _native(pixels: np.ndarray, ts: TransferSyntax) -> tuple[bytes, str]:
    """Native Pixel Data bytes in the syntax's byte order, and their VR."""
    if pixels.dtype == np.uint16 and not ts.uid.is_little_endian:
        data = pixels.astype(">u2").tobytes()
    else:
        data = pixels.tobytes()
    if len(data) % 2:
        data += b"\0"
    vr = "OB" if pixels.dtype == np.uint8 and not ts.uid.is_implicit_VR else "OW"
    return data, vr


def _frame(image: SourceImage, index: int) -> np.ndarray:
    """Frame ``index`` as (rows, columns) grey or (rows, columns, 3) colour, no copy."""
    frame = image.pixels[index]
    return frame if image.is_colour else frame[..., 0]


def _set_or_delete(ds: Dataset, keyword: str, value: object) -> None:
    if value is not None:
        setattr(ds, keyword, value)
    elif keyword in ds:
        delattr(ds, keyword)


# The start of frame markers each syntax accepts as it is, and markers without a length.
_SOF_PASSTHROUGH = {"jpeg-baseline": (0xC0,), "jpeg-extended": (0xC0, 0xC1)}


@dataclass(frozen=True)
class JpegHeader:
    """What a JPEG stream's markers say up to its first scan."""

    sof: int  # the start of frame marker, e.g. 0xC0 for baseline
    precision: int
    rows: int
    columns: int
    components: tuple[tuple[int, int, int], ...]  # (id, horizontal, vertical sampling)
    adobe_transform: int | None  # APP14 "Adobe" colour transform, when present
    scan: tuple[int, ...] = ()  # component ids of the first scan; () if its SOS is malformed

    @property
    def photometric(self) -> str:
        """The photometric interpretation of the decoded stream.

        YCbCr is YBR_FULL_422 whether or not the chroma is subsampled: that is the value
        DICOM allows with the lossy JPEG syntaxes (dciodvfy rejects YBR_FULL there), and
        decoders take the sampling from the stream itself.
        """
        if len(self.components) == 1:
            return "MONOCHROME2"
        ids = bytes(c[0] for c in self.components)
        if self.adobe_transform == 0 or ids == b"RGB":
            return "RGB"
        return "YBR_FULL_422"


def jpeg_header(stream: bytes) -> JpegHeader | None:
    """Parse the markers of a JPEG stream up to its first scan; None if it is not JPEG."""
    sof, adobe, scan = None, None, ()
    for marker, start, end in segments(stream):
        body = stream[start + 4 : end]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and len(body) >= 6:
            count = body[5]
            components = tuple(
                (body[6 + 3 * i], body[7 + 3 * i] >> 4, body[7 + 3 * i] & 15)
                for i in range(count)
                if len(body) >= 9 + 3 * i
            )
            rows, columns = int.from_bytes(body[1:3], "big"), int.from_bytes(body[3:5], "big")
            sof = (marker, body[0], rows, columns, components)
        elif marker == 0xEE and body[:5] == b"Adobe" and len(body) >= 12:
            adobe = body[11]
        elif marker == 0xDA:
            count = body[0] if body else 0
            if count and len(body) == 4 + 2 * count:  # Ns, Ns x (id, tables), Ss, Se, Ah/Al
                scan = tuple(body[1 : 1 + 2 * count : 2])
            break
    if sof is None:
        return None
    return JpegHeader(*sof, adobe_transform=adobe, scan=scan)


def jpeg_syntax_as_it_is(image: SourceImage) -> TransferSyntax | None:
    """The JPEG syntax that carries ``image.jpeg_bitstream`` unchanged (Baseline for a
    baseline stream, Extended for an extended one), or None when it has none to carry."""
    for key in _SOF_PASSTHROUGH:
        ts = transfer_syntax(key)
        if _passthrough(image, ts) is not None:
            return ts
    return None


def _passthrough(image: SourceImage, ts: TransferSyntax) -> str | None:
    """The photometric interpretation of ``image.jpeg_bitstream`` if it can go as it is."""
    if ts.key not in _SOF_PASSTHROUGH or not image.jpeg_bitstream:
        return None
    header = jpeg_header(image.jpeg_bitstream)
    if (
        header is None
        or header.sof not in _SOF_PASSTHROUGH[ts.key]
        or header.precision != 8
        or image.frames != 1
        or image.dtype != np.uint8
        or (header.rows, header.columns) != (image.rows, image.columns)
        or len(header.components) != image.samples
    ):
        return None
    return header.photometric
