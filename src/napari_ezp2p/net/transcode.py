"""Re-encoding an object in the transfer syntax a peer accepted, keeping its identity."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID

from ..core.errors import ConversionError, Ezp2pError
from ..core.image import SourceImage
from ..core.lossy import copy_history_decoded
from ..core.transfer import transfer_syntax


class TranscodeError(Ezp2pError):
    """An object that cannot be re-encoded in the transfer syntax the peer accepted."""


def is_lossless(syntax: UID) -> bool:
    """Whether ``syntax`` keeps the pixels exactly (native and deflated ones do)."""
    try:
        return transfer_syntax(str(syntax)).lossless
    except ConversionError:
        return not syntax.is_compressed


def transcode(ds: Dataset, target: UID | str) -> Dataset:
    """A copy of ``ds`` whose Pixel Data is in ``target``; ``ds`` is left unchanged, the SOP
    Instance UID and lossy compression history are kept, and the encoding ``ds`` came in
    joins that history when it lost information and is not recorded yet (a JPEG-LS
    near-lossless file from elsewhere, without Lossy Image Compression).

    Refuses to encode into a lossy syntax (that would need a new SOP Instance UID and is
    the converter's decision, not the sender's). Decoding a lossy object into a native or
    lossless syntax is allowed (the lossy history stays recorded).
    """
    target = UID(target)
    source = ds.file_meta.TransferSyntaxUID
    if source == target:
        return ds
    label = target.name
    if not is_lossless(target):
        raise TranscodeError(
            f"{ds.SOPInstanceUID}: will not re-encode {source.name} into the lossy {label}"
        )
    out = Dataset()
    for element in ds:
        if element.tag != 0x7FE00010:
            out.add(copy.deepcopy(element))
    out.file_meta = copy.deepcopy(ds.file_meta)
    from ..core.pixels import set_pixel_data  # the encoders, only when a file is transcoded

    try:
        with _decoding(ds):
            image = _source_image(ds)
        if image is not None:
            photometric = ds.get("PhotometricInterpretation")
            set_pixel_data(
                out, image, transfer_syntax(str(target)), multiframe="NumberOfFrames" in ds
            )
            if photometric == "MONOCHROME1":
                out.PhotometricInterpretation = photometric
        elif "PixelData" not in ds or not target.is_compressed:
            out = copy.deepcopy(ds)
            if source.is_compressed:
                with _decoding(ds):
                    out.decompress(generate_instance_uid=False)
            elif source.is_little_endian != target.is_little_endian and "PixelData" in ds:
                raise TranscodeError(f"{ds.SOPInstanceUID}: cannot swap the byte order")
            out.file_meta.TransferSyntaxUID = target
        else:
            raise TranscodeError(
                f"{ds.SOPInstanceUID}: the pixel data (signed, palette or over 16 bits) "
                f"cannot be encoded in {label}"
            )
        copy_history_decoded(ds, out)
    except (ConversionError, ValueError, TypeError, RuntimeError, NotImplementedError) as error:
        raise TranscodeError(
            f"{ds.SOPInstanceUID}: cannot transcode {source.name} to {label}: {error}"
        ) from None
    out.file_meta.TransferSyntaxUID = target
    _encode_as(out, target)
    return out


def _encode_as(ds: Dataset, target: UID) -> None:
    """Make ``ds`` say it is encoded as ``target`` (implicit or explicit VR, its byte
    order), as pynetdicom checks before it sends: its elements read from the source's
    bytes are decoded first, so that they are written anew in the target's encoding."""
    for _ in ds.iterall():  # decodes every raw element, nested ones included
        pass
    ds.set_original_encoding(
        target.is_implicit_VR, target.is_little_endian, ds.original_character_set
    )


@contextmanager
def _decoding(ds: Dataset) -> Iterator[None]:
    """Turn whatever a pixel data decoder raises into a TranscodeError naming the object,
    its syntax and, in one line, why (pydicom gives one line per decoder it tried)."""
    try:
        yield
    except MemoryError:  # not the object's fault: the batch fails, and is tried again
        raise
    except StopIteration:  # pydicom's frame generator ran out of fragments
        frames = ds.get("NumberOfFrames", 1)
        reason = f"it holds fewer frames than its Number of Frames ({frames})"
    except Exception as error:  # noqa: BLE001 - each decoder plugin raises its own
        lines = (line.strip().rstrip(":") for line in str(error).splitlines())
        reason = "; ".join(line for line in lines if line)
        reason = reason or type(error).__name__
    else:
        return
    syntax = ds.file_meta.TransferSyntaxUID
    raise TranscodeError(
        f"cannot decode the pixel data of {ds.SOPInstanceUID} ({syntax.name}): {reason}"
    )


def _source_image(ds: Dataset) -> SourceImage | None:
    """The pixels of ``ds`` as our encoder takes them, or None when they don't fit it."""
    if "PixelData" not in ds:
        return None
    samples = ds.get("SamplesPerPixel", 1)
    bits = ds.get("BitsAllocated", 0)
    photometric = ds.get("PhotometricInterpretation", "")
    if (
        ds.get("PixelRepresentation", 0) != 0
        or bits not in (8, 16)
        or samples not in (1, 3)
        or (samples == 3 and bits != 8)
        or photometric in ("PALETTE COLOR", "YBR_PARTIAL_420")
    ):
        return None
    pixels = np.ascontiguousarray(ds.pixel_array)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    pixels = pixels.reshape(frames, ds.Rows, ds.Columns, samples)
    return SourceImage(pixels.astype(f"u{bits // 8}", copy=False), int(ds.BitsStored))
