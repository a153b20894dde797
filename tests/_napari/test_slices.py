"""The slice choice of an nD layer, without napari: what it takes, and what it refuses."""

from __future__ import annotations

import numpy as np
import pytest

from napari_ezp2p._napari.session import LayerSnapshot, layer_image
from napari_ezp2p._napari.slices import (
    SliceChoice,
    SliceError,
    plan_slices,
    slice_axes,
    take_slices,
)

STACK = np.arange(20 * 4 * 5, dtype=np.uint16).reshape(20, 4, 5)
HYPER = np.arange(3 * 5 * 4 * 4, dtype=np.uint8).reshape(3, 5, 4, 4)


def frames(data, rgb=False, **kwargs) -> tuple[np.ndarray, str]:
    plan = plan_slices(data.shape, rgb=rgb, **kwargs)
    return np.asarray(take_slices(data, plan)), plan.description


def test_a_range_takes_those_slices_in_order_and_says_so():
    taken, description = frames(STACK, choice=SliceChoice(0, "range", 5, 9))
    np.testing.assert_array_equal(taken, STACK[5:10])
    assert description == "slices 5-9 of 20 along axis 0"


def test_a_whole_stack_goes_as_today_and_says_nothing():
    for choice in (None, SliceChoice(0, "all")):
        taken, description = frames(STACK, choice=choice)
        np.testing.assert_array_equal(taken, STACK)
        assert description == ""


def test_the_current_slice_is_the_viewer_position():
    taken, description = frames(STACK, choice=SliceChoice(0, "current"), position=(7, 0, 0))
    np.testing.assert_array_equal(taken, STACK[7:8])
    assert description == "slice 7 of 20 along axis 0"


def test_a_4d_layer_takes_the_other_axis_at_its_current_position():
    taken, description = frames(HYPER, choice=SliceChoice(1, "all"), position=(2, 3, 0, 0))
    assert taken.shape == (5, 4, 4)
    for index in range(5):
        np.testing.assert_array_equal(taken[index], HYPER[2, index])
    assert description == "all 5 slices along axis 1, axis 0 at 2"


def test_a_4d_layer_with_no_axis_chosen_is_refused_not_flattened():
    with pytest.raises(SliceError) as refused:
        plan_slices(HYPER.shape, rgb=False, position=(0, 0, 0, 0))
    assert str(refused.value) == (
        "4D layer (3, 5, 4, 4): choose the axis to send; "
        "the other is taken at its current position"
    )
    snapshot = LayerSnapshot("hyper", HYPER, False, (0, 255), {}, position=(0, 0, 0, 0))
    with pytest.raises(SliceError, match="choose the axis"):
        snapshot.image()
    assert snapshot.label == "hyper"


@pytest.mark.parametrize(
    ("choice", "reason"),
    [
        (SliceChoice(0, "range", 15, 20), "slices 15-20 are outside the 20 slices (0-19)"),
        (SliceChoice(0, "range", -1, 3), "outside the 20 slices"),
        (SliceChoice(0, "range", 9, 5), "slices 9-5: the range is inverted"),
        (SliceChoice(1, "all"), "axis 1 of the layer (20, 4, 5) is displayed"),
        (SliceChoice(3, "all"), "axis 3 of the layer (20, 4, 5) is not in the layer"),
        (SliceChoice(0, "current"), "the viewer's current position is not known"),
    ],
)
def test_choices_that_do_not_fit_are_refused_with_the_reason(choice, reason):
    with pytest.raises(SliceError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        plan_slices(STACK.shape, rgb=False, choice=choice)


def test_rgb_layers_slice_before_the_colour_axis():
    clip = np.arange(6 * 4 * 5 * 3, dtype=np.uint8).reshape(6, 4, 5, 3)
    assert slice_axes(clip.shape, rgb=True) == (0,)
    assert slice_axes(clip.shape[1:], rgb=True) == ()
    taken, description = frames(clip, rgb=True, choice=SliceChoice(0, "range", 1, 2))
    np.testing.assert_array_equal(taken, clip[1:3])
    assert description == "slices 1-2 of 6 along axis 0"
    with pytest.raises(SliceError, match="is displayed"):
        plan_slices(clip.shape, rgb=True, choice=SliceChoice(1, "all"))


def test_the_indices_are_what_a_renderer_walks():
    assert SliceChoice(0, "range", 5, 9).indices(20, 0) == [5, 6, 7, 8, 9]
    assert SliceChoice(0, "current").indices(20, 4) == [4]
    assert SliceChoice(2, "all").indices(3, 1) == [0, 1, 2]
    plan = plan_slices(STACK.shape, rgb=False, choice=SliceChoice(0, "range", 2, 4))
    assert plan.indices == (2, 3, 4)


def test_a_snapshot_sends_the_chosen_frames_and_names_them():
    snapshot = LayerSnapshot(
        "stack", STACK, False, (0, 400), {}, choice=SliceChoice(0, "range", 5, 9)
    )
    image = snapshot.image().image
    assert image.shape == (5, 4, 5, 1)
    np.testing.assert_array_equal(image.pixels[..., 0], STACK[5:10])
    assert snapshot.label == "stack, slices 5-9 of 20 along axis 0"
    with pytest.raises(SliceError, match=r"4D layer \(3, 5, 4, 4\): choose the axis"):
        layer_image(HYPER, rgb=False)  # given no choice, a 4-D layer is never flattened
