"""Which slices of an nD image layer to send: a choice, and the frames it takes.

A layer's image plane is its last two axes (before the colour axis of an RGB layer), as
napari shows it by default; every axis before them is a *slice axis*, a slider in
napari. A :class:`SliceChoice` names one slice axis and the current slice, a range or
all of it; the other slice axes are taken at the viewer's current position. Indices
are 0-based and the range includes both ends, as napari's sliders show them.
:func:`plan_slices` checks a choice against a layer's shape (no pixels needed, so the
main thread can refuse at once) and :func:`take_slices` takes the frames, in slice
order. Nothing here imports Qt.

The Send dock remembers each layer's choice (:func:`remember_choice`), and the layer
menu's "Send layer to PACS" sends it too (:func:`choice_for`). With no choice made, a
3-D layer goes whole and a 4-D (or higher) one is refused: it is never flattened.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..core.errors import Ezp2pError

What = Literal["current", "range", "all"]
WHATS: tuple[What, ...] = ("current", "range", "all")


class SliceError(Ezp2pError, ValueError):
    """A slice choice that does not fit the layer (the message says why)."""


@dataclass(frozen=True)
class SliceChoice:
    """Along ``axis`` (a layer data axis; None: a 3-D layer's only slice axis), send the
    ``current`` slice, the ``range`` ``start``..``stop`` (0-based, both included) or
    ``all`` of it."""

    axis: int | None = None
    what: What = "all"
    start: int = 0
    stop: int = 0

    def indices(self, length: int, current: int) -> list[int]:
        """The slice indices along the axis, in order, for an axis of ``length`` slices
        whose current slice is ``current``."""
        if self.what == "current":
            return [current]
        if self.what == "all":
            return list(range(length))
        if self.what != "range":
            raise SliceError(f"unknown slice choice {self.what!r}: use one of {WHATS}")
        if self.start > self.stop:
            raise SliceError(f"slices {self.start}-{self.stop}: the range is inverted")
        if self.start < 0 or self.stop >= length:
            raise SliceError(
                f"slices {self.start}-{self.stop} are outside the {length} slices "
                f"(0-{length - 1}) along axis {self.axis}"
            )
        return list(range(self.start, self.stop + 1))


@dataclass(frozen=True)
class SlicePlan:
    """What a choice takes of a layer: the numpy index, the slice indices along the
    chosen axis (None: a 2-D layer, taken whole) and a short description for the
    series description and the report ("" when the whole layer goes, as it is)."""

    key: tuple
    axis: int | None
    indices: tuple[int, ...]
    description: str


def slice_axes(shape: tuple[int, ...], rgb: bool) -> tuple[int, ...]:
    """The layer's slice axes (napari's sliders): all but the image plane and colour."""
    return tuple(range(len(shape) - (3 if rgb else 2)))


def plan_slices(
    shape: tuple[int, ...],
    *,
    rgb: bool,
    choice: SliceChoice | None = None,
    position: tuple[int, ...] | None = None,
) -> SlicePlan:
    """Check ``choice`` against a layer of ``shape`` and say what it takes.

    ``position`` is the viewer's current slice index on each layer axis (its dims point
    in data coordinates); it is needed for "current" and for the other slice axes of a
    4-D layer. Raises SliceError for an axis that is displayed or not in the layer, a
    range outside the data or inverted, a 4-D layer with no axis chosen.
    """
    choice = choice or SliceChoice()
    shape = tuple(int(n) for n in shape)
    axes = slice_axes(shape, rgb)
    if not axes:
        return SlicePlan((), None, (), "")
    axis = choice.axis
    if axis is None:
        if len(axes) > 1:
            others = (
                "the others are taken at their current positions"
                if len(axes) > 2
                else "the other is taken at its current position"
            )
            raise SliceError(
                f"{len(shape) - rgb}D layer {shape}: choose the axis to send; {others}"
            )
        axis = axes[0]
    if axis not in axes:
        where = "displayed (the image plane)" if 0 <= axis < len(shape) else "not in the layer"
        raise SliceError(f"axis {axis} of the layer {shape} is {where}: choose one of {axes}")
    needs_position = choice.what == "current" or len(axes) > 1
    if needs_position and (position is None or len(position) < len(axes)):
        raise SliceError("the viewer's current position is not known: send a range or all")
    current = _within(position[axis], shape[axis]) if needs_position else 0
    indices = SliceChoice(axis, choice.what, choice.start, choice.stop).indices(
        shape[axis], current
    )
    key = tuple(
        slice(indices[0], indices[-1] + 1) if a == axis else _within(position[a], shape[a])
        for a in axes
    )
    whole = len(axes) == 1 and len(indices) == shape[axis]
    description = "" if whole else _describe(shape, axes, axis, indices, key)
    return SlicePlan(key, axis, tuple(indices), description)


def take_slices(data, plan: SlicePlan):
    """The frames ``plan`` takes of ``data``, (frames, rows, cols[, colour]) in slice
    order; a 2-D layer's data as it is. A view (or a lazy array) when the data allows."""
    if plan.axis is None:
        return data
    return data[plan.key]


def current_position(layer, viewer) -> tuple[int, ...]:
    """The viewer's current slice index on each of ``layer``'s axes (napari rounds its
    dims point, in data coordinates, the same way to pick the slice it shows)."""
    point = layer.world_to_data(viewer.dims.point)
    return tuple(int(np.round(value)) for value in point)


_chosen: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def remember_choice(layer, choice: SliceChoice | None) -> None:
    """Keep ``choice`` for ``layer`` (None forgets it), for every face that sends it."""
    if choice is None:
        _chosen.pop(_unproxied(layer), None)
    else:
        _chosen[_unproxied(layer)] = choice


def choice_for(layer) -> SliceChoice | None:
    """The choice the user made for ``layer``, or None (the default)."""
    return _chosen.get(_unproxied(layer))


def _unproxied(layer):
    """The layer itself: napari hands plugin docks short-lived proxies of its layers."""
    return getattr(layer, "__wrapped__", layer)


def _within(index: int, length: int) -> int:
    return min(max(int(index), 0), length - 1)


def _describe(shape, axes, axis: int, indices: list[int], key: tuple) -> str:
    length = shape[axis]
    if len(indices) == 1:
        what = f"slice {indices[0]} of {length}"
    elif len(indices) == length:
        what = f"all {length} slices"
    else:
        what = f"slices {indices[0]}-{indices[-1]} of {length}"
    others = "".join(f", axis {a} at {key[a]}" for a in axes if a != axis)
    return f"{what} along axis {axis}{others}"
