"""Scanning through SANE: flatbed and film scanners as a :class:`SourceImage`.

python-sane (the ``scanner`` extra) and the SANE library are optional: they are imported
only when a function here is called, and a missing one is a :class:`ScannerError`.

SANE is initialised for each use (``sane.init()``) and left (``sane.exit()``) when no
use is running any more; nested and concurrent uses share one initialisation. A
scan always closes its device handle, also when it fails or is cancelled.

Note that libsane reads ``SANE_CONFIG_DIR`` once per process (the first ``sane.init()``)
and keeps the backend list it found: changing the variable later has no effect.

Cancellation and progress: python-sane reads the image in one call that reads line by
line and calls a callback after each line. ``progress(fraction)`` is called with 0.0
before the scan, with the fraction of lines read (at most about every 1 %) and with 1.0
at the end; ``cancel()`` is asked before the device is opened, before the scan starts,
after each line and after the last one. A cancel stops the scanner (``sane_cancel``) at
once. The line callback must never raise into python-sane (version 2.9.2 crashes the
interpreter when it does), so errors raised by ``progress``/``cancel`` are held, the
scan is cancelled and the error is raised again once python-sane has returned.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from napari_ezp2p.core.errors import Ezp2pError
from napari_ezp2p.core.image import SourceImage, bits_stored_for

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


def _import_sane() -> ModuleType:
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
    sane = _import_sane()
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
    with sane_session() as sane, _opened(sane, device) as dev:
        return _options_of(dev, device)


def scan(
    device: str,
    *,
    resolution_dpi: float,
    mode: str = "gray",
    depth: int = 8,
    area_mm: tuple[float, float, float, float] | None = None,
    conversion_type: str = "DF",
    options: Mapping[str, object] | None = None,
    progress: Callable[[float], object] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> SourceImage:
    """One scan from ``device`` as a single-frame :class:`SourceImage`.

    ``mode`` "gray" keeps the depth: 16-bit grey stays uint16 with ``bits_stored`` from
    the data (12 when every value fits 12 bits, else 16). ``mode`` "color" gives 8-bit
    RGB: a 16-bit colour scan is reduced to the high byte of each sample. The pixel
    spacing is 25.4 / dpi mm, per axis when the device has separate x and y
    resolutions. ``area_mm`` is (left, top, width, height) in mm; None scans the whole
    area the device offers. ``conversion_type`` is "DF" (digitized film) or "SD"
    (scanned document). ``options`` are further SANE options by name (e.g. ``source``),
    set after mode, depth and resolution. See the module text for ``progress`` and
    ``cancel``; a cancelled scan raises ScannerError("... cancelled").
    """
    settings = _Settings(resolution_dpi, mode, depth, area_mm, conversion_type, options)
    pages = _scanned(device, settings, 1, False, progress, cancel)
    try:
        return next(pages)
    finally:
        pages.close()  # closes the device


def scan_pages(
    device: str,
    *,
    resolution_dpi: float,
    mode: str = "gray",
    depth: int = 8,
    area_mm: tuple[float, float, float, float] | None = None,
    conversion_type: str = "SD",
    options: Mapping[str, object] | None = None,
    max_pages: int | None = None,
    progress: Callable[[float], object] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Iterator[SourceImage]:
    """Every page in ``device``'s document feeder (at most ``max_pages``), one at a time.

    The device's ``source`` is set to its feeder (the first source whose name says ADF
    or feeder); the other arguments are those of :func:`scan`, ``progress`` going from
    0 to 1 for each page. The pages end when the feeder is empty; an empty feeder at
    the first page is a ScannerError, as is a jam or a cancel at any page (the pages
    yielded before it are kept by the caller). The device stays open between pages.
    """
    if max_pages is not None and max_pages < 1:
        raise ScannerError(f"the number of pages must be 1 or more, not {max_pages}")
    settings = _Settings(resolution_dpi, mode, depth, area_mm, conversion_type, options)
    return _scanned(device, settings, max_pages, True, progress, cancel)


@dataclass(frozen=True)
class _Settings:
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


#: What python-sane's error says when the feeder has no more pages (SANE_STATUS_NO_DOCS);
#: python-sane's own ``multi_scan`` ends on the same text.
_FEEDER_EMPTY = "Document feeder out of documents"


def _scanned(
    device: str,
    settings: _Settings,
    pages: int | None,
    feeder: bool,
    progress: Callable[[float], object] | None,
    cancel: Callable[[], bool] | None,
) -> Iterator[SourceImage]:
    settings.check()
    reader = _Reader(device, progress, cancel)
    reader.check_cancel()
    with sane_session() as sane, _opened(sane, device) as dev:
        reader.check_cancel()
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
            raise ScannerError(
                f"scanner {device} has no {settings.depth}-bit {settings.mode} mode"
            )
        x_dpi, y_dpi = _set_resolution(dev, device, limits, settings.resolution_dpi)
        _set_area(dev, device, limits, settings.area_mm)
        for name, value in (settings.options or {}).items():
            _set_option(dev, device, name.replace("-", "_"), value, f"option {name}")
        spacing = (MM_PER_INCH / y_dpi, MM_PER_INCH / x_dpi)
        count = 0
        while pages is None or count < pages:
            reader.check_cancel()
            reader.report(0.0)
            try:
                array = reader.read(dev)
            except _FeederEmpty:
                if count == 0:
                    raise ScannerError(f"the document feeder of {device} is empty") from None
                return
            reader.check_cancel()
            image = _to_image(array, settings.mode, settings.conversion_type, spacing)
            reader.report(1.0)
            count += 1
            yield image


def feeder_source(options: ScannerOptions) -> str | None:
    """The document feeder among the scanner's sources (its name says ADF or feeder)."""
    for source in options.sources:
        lowered = source.lower()
        if "adf" in lowered or "feeder" in lowered:
            return source
    return None


# ---------------------------------------------------------------------------------------
# Opening and options


@contextmanager
def _opened(sane: ModuleType, device: str) -> Iterator[object]:
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


# ---------------------------------------------------------------------------------------
# Reading


class _FeederEmpty(Exception):
    """The document feeder has no (more) pages."""


class _Reader:
    """Runs reads with progress and cancel, never letting an error into python-sane."""

    def __init__(
        self,
        device: str,
        progress: Callable[[float], object] | None,
        cancel: Callable[[], bool] | None,
    ) -> None:
        self.device = device
        self.progress = progress
        self.cancel = cancel
        self.cancelled = False
        self.held: BaseException | None = None
        self.last_reported = -1.0

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel():
            self.cancelled = True
        if self.cancelled:
            raise ScannerError(f"scan of {self.device} cancelled")

    def report(self, fraction: float) -> None:
        if self.progress is not None:
            self.progress(fraction)
            self.last_reported = fraction

    def read(self, dev) -> np.ndarray:
        try:
            dev.start()
        except Exception as exc:  # _sane.error: busy, jammed, no documents, cover open...
            if str(exc) == _FEEDER_EMPTY:
                raise _FeederEmpty from exc
            raise ScannerError(f"scanner {self.device} cannot start the scan: {exc}") from exc
        try:
            array = dev.arr_snap(progress=lambda line, lines: self._on_line(dev, line, lines))
        except Exception as exc:  # _sane.error or RuntimeError("no data")
            if self.held is not None:
                raise self.held from None
            if self.cancelled:
                raise ScannerError(f"scan of {self.device} cancelled") from exc
            raise ScannerError(f"scanner {self.device} failed while scanning: {exc}") from exc
        if self.held is not None:  # raised after the last line: the scan is whole anyway
            raise self.held
        return array

    def _on_line(self, dev, line: int, lines: int) -> None:
        # Called by python-sane after each line: an exception escaping here crashes it.
        if self.cancelled or self.held is not None:
            return
        try:
            if self.cancel is not None and self.cancel():
                self.cancelled = True
            elif self.progress is not None and lines > 0:
                fraction = min(line / lines, 1.0) * 0.99  # 1.0 once the image is made
                if fraction - self.last_reported >= 0.01:
                    self.report(fraction)
        except BaseException as exc:  # noqa: BLE001 - held and raised after the read
            self.held = exc
        if self.cancelled or self.held is not None:
            with suppress(Exception):
                dev.cancel()


def _to_image(
    array: np.ndarray, mode: str, conversion_type: str, spacing: tuple[float, float]
) -> SourceImage:
    """python-sane's (rows, columns, samples) array as a SourceImage."""
    if array.ndim != 3 or array.shape[2] not in (1, 3) or array.size == 0:
        raise ScannerError(f"the scanner returned an image of unexpected shape {array.shape}")
    if mode == "color" and array.shape[2] != 3:
        raise ScannerError("the scanner returned grey data for a colour scan")
    fields = {"conversion_type": conversion_type, "pixel_spacing": spacing}
    if array.shape[2] == 3:
        if array.dtype == np.uint16:
            array = (array >> 8).astype(np.uint8)
        return SourceImage.from_array(np.ascontiguousarray(array), rgb=True, **fields)
    grey = np.ascontiguousarray(array[:, :, 0])
    return SourceImage.from_array(grey, rgb=False, bits_stored=bits_stored_for(grey), **fields)
