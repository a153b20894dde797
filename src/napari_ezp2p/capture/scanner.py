"""Scanners through SANE: listing them, what each offers, and setting one up to scan.

python-sane (the ``scanner`` extra) and the SANE library are optional: they are imported
only when a function here is called, and a missing one is a :class:`ScannerError`.

SANE is initialised for each use (``sane.init()``) and left (``sane.exit()``) when no
use is running any more; nested and concurrent uses share one initialisation. Reading
images is :mod:`~napari_ezp2p.capture.scanning`'s work.

Note that libsane reads ``SANE_CONFIG_DIR`` once per process (the first ``sane.init()``)
and keeps the backend list it found: changing the variable later has no effect here (a
scan's child process, started with the environment of the moment, reads it anew).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import ModuleType

from napari_ezp2p.core.errors import Ezp2pError

MM_PER_INCH = 25.4
#: The resolutions offered when a scanner takes any value in a range.
COMMON_RESOLUTIONS = (50, 75, 100, 150, 200, 300, 400, 600, 1200, 2400, 3200, 4800, 6400)
_INSTALL_HINT = "install the 'scanner' extra (python-sane) and SANE (e.g. Debian's libsane1)"
_MODE_WORDS = {"gray": ("gray", "grey"), "color": ("color", "colour")}


class ScannerError(Ezp2pError):
    """A scanner that cannot be listed, opened, set up or read (names the device)."""


@dataclass(frozen=True)
class ScannerInfo:
    """One scanner as SANE lists it; ``name`` is what :func:`scan` takes."""

    name: str
    vendor: str
    model: str
    type: str

    @property
    def label(self) -> str:
        """``vendor model (name)`` for a menu."""
        return f"{self.vendor} {self.model} ({self.name})"


@dataclass(frozen=True)
class ScannerOptions:
    """What a scanner offers.

    ``resolutions`` are the dpi values it lists, or, when it takes any value of a range,
    the common values inside ``resolution_range`` ((min, max, step) in dpi, else None).
    ``modes`` are "gray" and/or "color" (the SANE names are in ``sane_modes``),
    ``depths`` the bits per sample (8, 16; 1 for line art), ``sources`` the SANE
    ``source`` values (flatbed, transparency unit, ...). ``area_mm`` is the largest scan
    area as (left, top, width, height) in mm, or None when the device has no area in mm.
    ``separate_xy_resolution`` says the device has its own x and y resolutions.
    """

    device: str
    resolutions: tuple[float, ...]
    resolution_range: tuple[float, float, float] | None
    modes: tuple[str, ...]
    sane_modes: tuple[str, ...]
    depths: tuple[int, ...]
    sources: tuple[str, ...]
    area_mm: tuple[float, float, float, float] | None
    separate_xy_resolution: bool = False

    def accepts_resolution(self, dpi: float) -> bool:
        if self.resolution_range is not None:
            low, high, step = self.resolution_range
            if not low - 1e-6 <= dpi <= high + 1e-6:
                return False
            if step > 0:
                steps = (dpi - low) / step
                return abs(steps - round(steps)) < 1e-6
            return True
        return any(abs(dpi - r) < 1e-6 for r in self.resolutions)


def import_sane() -> ModuleType:
    """The ``sane`` module (python-sane), its absence a ScannerError."""
    try:
        import sane
    except ImportError as exc:  # python-sane missing, or libsane not loadable
        raise ScannerError(f"scanning needs python-sane: {_INSTALL_HINT} ({exc})") from exc
    return sane


_lock = threading.Lock()
_users = 0


@contextmanager
def sane_session() -> Iterator[ModuleType]:
    """The ``sane`` module, initialised for the duration of the block.

    Nested and concurrent blocks share one ``sane.init()``; the last one to leave
    calls ``sane.exit()``.
    """
    global _users
    sane = import_sane()
    with _lock:
        if _users == 0:
            try:
                sane.init()
            except Exception as exc:  # _sane.error or a broken libsane
                raise ScannerError(f"SANE cannot start: {exc}") from exc
        _users += 1
    try:
        yield sane
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                sane.exit()


def list_scanners() -> list[ScannerInfo]:
    """The scanners SANE finds (local and network), each as a :class:`ScannerInfo`."""
    with sane_session() as sane:
        try:
            devices = sane.get_devices()
        except Exception as exc:  # _sane.error
            raise ScannerError(f"SANE cannot list the scanners: {exc}") from exc
    return [ScannerInfo(*map(str, device)) for device in devices]


def scanner_options(device: str) -> ScannerOptions:
    """The resolutions, modes, depths, sources and scan area ``device`` offers."""
    with sane_session() as sane, opened(sane, device) as dev:
        return _options_of(dev, device)


@dataclass(frozen=True)
class ScanSettings:
    """What a scan is asked for (see :func:`~napari_ezp2p.capture.scanning.scan`)."""

    resolution_dpi: float
    mode: str
    depth: int
    area_mm: tuple[float, float, float, float] | None
    conversion_type: str
    options: Mapping[str, object] | None

    def check(self) -> None:
        if self.mode not in _MODE_WORDS:
            raise ScannerError(f"scan mode must be 'gray' or 'color', not {self.mode!r}")
        if self.depth not in (8, 16):
            raise ScannerError(f"scan depth must be 8 or 16 bits, not {self.depth}")
        if self.conversion_type not in ("DF", "SD"):
            raise ScannerError(
                "conversion type must be 'DF' (film) or 'SD' (document), "
                f"not {self.conversion_type!r}"
            )
        dpi = self.resolution_dpi
        if not (isinstance(dpi, int | float) and dpi > 0):
            raise ScannerError(f"resolution must be a positive number of dpi, not {dpi!r}")


def feeder_source(options: ScannerOptions) -> str | None:
    """The document feeder among the scanner's sources (its name says ADF or feeder)."""
    for source in options.sources:
        lowered = source.lower()
        if "adf" in lowered or "feeder" in lowered:
            return source
    return None


def set_up(dev, device: str, settings: ScanSettings, feeder: bool) -> tuple[float, float]:
    """Set ``dev`` up for ``settings`` (its feeder as the source when ``feeder``); the
    pixel spacing (rows, columns) in mm it will scan at."""
    limits = _options_of(dev, device)
    if feeder:
        source = feeder_source(limits)
        if source is None:
            offered = ", ".join(limits.sources) or "none"
            raise ScannerError(f"scanner {device} has no document feeder (sources: {offered})")
        _set_option(dev, device, "source", source, f"the document feeder ({source})")
    _set_mode(dev, device, limits, settings.mode)
    if _active(dev.opt, "depth"):
        _set_option(dev, device, "depth", settings.depth, f"{settings.depth}-bit depth")
    elif settings.depth != 8:
        raise ScannerError(f"scanner {device} has no {settings.depth}-bit {settings.mode} mode")
    x_dpi, y_dpi = _set_resolution(dev, device, limits, settings.resolution_dpi)
    _set_area(dev, device, limits, settings.area_mm)
    for name, value in (settings.options or {}).items():
        _set_option(dev, device, name.replace("-", "_"), value, f"option {name}")
    return (MM_PER_INCH / y_dpi, MM_PER_INCH / x_dpi)


# ---------------------------------------------------------------------------------------
# Opening and options


@contextmanager
def opened(sane: ModuleType, device: str) -> Iterator[object]:
    try:
        dev = sane.open(device)
    except Exception as exc:  # _sane.error with sane_strstatus() text
        raise ScannerError(_open_message(device, str(exc))) from exc
    try:
        yield dev
    finally:
        with suppress(Exception):  # cancelling an idle device may complain; close anyway
            dev.cancel()
        dev.close()


def _open_message(device: str, reason: str) -> str:
    lowered = reason.lower()
    if "busy" in lowered:
        return f"scanner {device} is busy (in use by another program or scan): {reason}"
    if "invalid argument" in lowered:
        return f"no scanner called {device!r} (see the scanner list): {reason}"
    if "access" in lowered:
        return f"no permission to use scanner {device}: {reason}"
    return f"scanner {device} cannot be opened: {reason}"


def _options_of(dev, device: str) -> ScannerOptions:
    opts = dev.opt
    res_name = next(
        (n for n in ("resolution", "x_resolution") if n in opts and opts[n].is_active()), None
    )
    resolutions: tuple[float, ...] = ()
    res_range = None
    if res_name is not None:
        constraint = opts[res_name].constraint
        if isinstance(constraint, tuple):
            res_range = tuple(float(v) for v in constraint)
            low, high, _ = res_range
            resolutions = tuple(float(r) for r in COMMON_RESOLUTIONS if low <= r <= high)
            resolutions = resolutions or (low, high)
        elif isinstance(constraint, list):
            resolutions = tuple(sorted(float(v) for v in constraint))
    sane_modes = _constraint_list(opts, "mode")
    modes = tuple(m for m in _MODE_WORDS if _sane_mode(sane_modes, m) is not None)
    if not sane_modes:
        modes = ("gray",)  # no mode option: assume a grey scanner
    depths = tuple(sorted(int(d) for d in _constraint_list(opts, "depth"))) or (8,)
    return ScannerOptions(
        device=device,
        resolutions=resolutions,
        resolution_range=res_range,
        modes=modes,
        sane_modes=tuple(map(str, sane_modes)),
        depths=depths,
        sources=tuple(map(str, _constraint_list(opts, "source"))),
        area_mm=_area_limits(opts),
        separate_xy_resolution=_active(opts, "x_resolution") and _active(opts, "y_resolution"),
    )


def _active(opts: Mapping, name: str) -> bool:
    return name in opts and bool(opts[name].is_active())


def _constraint_list(opts: Mapping, name: str) -> list:
    if not _active(opts, name) or not isinstance(opts[name].constraint, list):
        return []
    return list(opts[name].constraint)


def _area_limits(opts: Mapping) -> tuple[float, float, float, float] | None:
    names = ("tl_x", "tl_y", "br_x", "br_y")
    if not all(_active(opts, n) for n in names):
        return None
    if any(opts[n].unit != _UNIT_MM or not isinstance(opts[n].constraint, tuple) for n in names):
        return None
    left, top = opts["tl_x"].constraint[0], opts["tl_y"].constraint[0]
    right, bottom = opts["br_x"].constraint[1], opts["br_y"].constraint[1]
    return (float(left), float(top), float(right - left), float(bottom - top))


_UNIT_MM = 3  # SANE_UNIT_MM


def _sane_mode(sane_modes: list, mode: str) -> str | None:
    """The SANE mode name for "gray" or "color": the standard name, else a look-alike."""
    standard = {"gray": "Gray", "color": "Color"}[mode]
    if standard in sane_modes:
        return standard
    for name in sane_modes:
        lowered = str(name).lower()
        if any(word in lowered for word in _MODE_WORDS[mode]):
            return str(name)
    return None


def _set_option(dev, device: str, name: str, value: object, what: str) -> None:
    if name not in dev.opt:
        raise ScannerError(f"scanner {device} has no {what} setting (SANE option {name!r})")
    try:
        setattr(dev, name, value)
    except Exception as exc:  # _sane.error, AttributeError (inactive), TypeError
        raise ScannerError(f"scanner {device} refuses {what} ({name} = {value!r}): {exc}") from exc


def _set_mode(dev, device: str, limits: ScannerOptions, mode: str) -> None:
    if not limits.sane_modes:
        if mode != "gray":
            raise ScannerError(f"scanner {device} has no colour mode")
        return
    name = _sane_mode(list(limits.sane_modes), mode)
    if name is None:
        raise ScannerError(
            f"scanner {device} has no {mode} mode (it offers {', '.join(limits.sane_modes)})"
        )
    _set_option(dev, device, "mode", name, f"{mode} mode")


def _set_resolution(dev, device: str, limits: ScannerOptions, dpi: float) -> tuple[float, float]:
    """Sets ``dpi`` (refused unless the device offers it); the (x, y) dpi it will scan at."""
    if not limits.accepts_resolution(dpi):
        if limits.resolution_range is not None:
            low, high, step = limits.resolution_range
            offered = f"{low:g} to {high:g} dpi" + (f" in steps of {step:g}" if step else "")
        else:
            offered = ", ".join(f"{r:g}" for r in limits.resolutions) + " dpi"
        raise ScannerError(
            f"scanner {device} does not offer a resolution of {dpi:g} dpi (it offers {offered})"
        )
    # "resolution" where there is one; separate x and y resolutions where they are active
    # (set after "resolution", which may change or unbind them).
    names = ["resolution", "x_resolution", "y_resolution"]
    if not any(_active(dev.opt, name) for name in names):
        raise ScannerError(f"scanner {device} has no resolution setting")
    for name in names:
        option = dev.opt.get(name)
        if option is None or not option.is_active():
            continue
        value: float = float(dpi)
        if option.type == _TYPE_INT:
            if dpi != int(dpi):
                raise ScannerError(f"scanner {device} takes whole dpi values only, not {dpi:g}")
            value = int(dpi)
        _set_option(dev, device, name, value, f"a resolution of {dpi:g} dpi")
    got = {
        n: float(getattr(dev, n))
        for n in ("resolution", "x_resolution", "y_resolution")
        if _active(dev.opt, n)
    }
    x_dpi = got.get("x_resolution", got.get("resolution", float(dpi)))
    y_dpi = got.get("y_resolution", got.get("resolution", float(dpi)))
    for actual in (x_dpi, y_dpi):
        if abs(actual - dpi) > 0.5:
            raise ScannerError(f"scanner {device} set {actual:g} dpi when asked for {dpi:g} dpi")
    return x_dpi, y_dpi


_TYPE_INT = 1  # SANE_TYPE_INT


def _set_area(
    dev, device: str, limits: ScannerOptions, area: tuple[float, float, float, float] | None
) -> None:
    full = limits.area_mm
    if full is None:
        if area is not None:
            raise ScannerError(f"scanner {device} has no scan area setting in mm")
        return
    if area is None:
        area = full
    left, top, width, height = (float(v) for v in area)
    if not all(math.isfinite(v) for v in (left, top, width, height)):
        raise ScannerError(f"scan area {area} is not a set of numbers")
    if width <= 0 or height <= 0:
        raise ScannerError(f"scan area {width:g} × {height:g} mm is empty")
    f_left, f_top, f_width, f_height = full
    eps = 1e-6
    if (
        left < f_left - eps
        or top < f_top - eps
        or left + width > f_left + f_width + eps
        or top + height > f_top + f_height + eps
    ):
        raise ScannerError(
            f"scan area (left {left:g}, top {top:g}, {width:g} × {height:g} mm) does not fit "
            f"scanner {device}'s area (left {f_left:g}, top {f_top:g}, "
            f"{f_width:g} × {f_height:g} mm)"
        )
    # Bottom-right to the maximum first, so that no corner is ever set past the other.
    what = "the scan area"
    _set_option(dev, device, "br_x", f_left + f_width, what)
    _set_option(dev, device, "br_y", f_top + f_height, what)
    _set_option(dev, device, "tl_x", left, what)
    _set_option(dev, device, "tl_y", top, what)
    _set_option(dev, device, "br_x", left + width, what)
    _set_option(dev, device, "br_y", top + height, what)
