"""SourceImage with pixels given as an array or decoded only when first used."""

from __future__ import annotations

import numpy as np
import pytest

from napari_ezp2p.core.image import DeferredPixels, SourceImage


class _Decoder:
    """Returns ``array`` and counts its calls."""

    def __init__(self, array: np.ndarray) -> None:
        self.array, self.calls = array, 0

    def __call__(self) -> np.ndarray:
        self.calls += 1
        return self.array


def test_from_array_is_unchanged():
    image = SourceImage.from_array(np.zeros((4, 5, 3), np.uint8), conversion_type="SD")
    assert image.pixels.shape == (1, 4, 5, 3)
    assert (image.frames, image.rows, image.columns, image.samples) == (1, 4, 5, 3)
    assert image.is_colour and image.dtype == np.uint8 and image.nbytes == 60
    assert image.pixels is image.data
    assert SourceImage(np.zeros((2, 3, 4, 1), np.uint16), 12).bits_stored == 12


def test_deferred_pixels_are_decoded_once_on_first_use():
    array = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4, 1)
    decode = _Decoder(array)
    image = SourceImage(DeferredPixels((2, 3, 4, 1), np.dtype(np.uint16), decode), 12)
    assert (image.frames, image.rows, image.columns, image.samples) == (2, 3, 4, 1)
    assert not image.is_colour and image.dtype == np.uint16 and image.nbytes == 48
    assert decode.calls == 0
    assert image.pixels is array
    assert image.pixels is array
    assert decode.calls == 1


def test_deferred_layout_is_checked_before_decoding():
    decode = _Decoder(np.zeros((1, 2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="colour pixels must be 8-bit"):
        SourceImage(DeferredPixels((1, 2, 2, 3), np.dtype(np.uint16), decode), 16)
    with pytest.raises(ValueError, match="frames, rows, columns"):
        SourceImage(DeferredPixels((2, 2, 3), np.dtype(np.uint8), decode), 8)
    with pytest.raises(ValueError, match="bits_stored 12 does not fit uint8"):
        SourceImage(DeferredPixels((1, 2, 2, 3), np.dtype(np.uint8), decode), 12)
    assert decode.calls == 0


def test_decoded_pixels_must_match_what_was_announced():
    decode = _Decoder(np.zeros((1, 2, 3, 3), np.uint8))
    image = SourceImage(DeferredPixels((1, 3, 2, 3), np.dtype(np.uint8), decode), 8)
    with pytest.raises(ValueError, match="expected"):
        _ = image.pixels
