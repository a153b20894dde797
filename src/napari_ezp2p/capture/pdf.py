"""PDF documents in: their bytes to encapsulate, or their pages rendered as an image stack.

Rendering uses PDFium through pypdfium2 (BSD/Apache licensed). PDFium is not
thread-safe, so every call into it here holds one module lock. Each document, page and
bitmap is closed before a function returns, whatever happens: no file handle is left open.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..core.errors import ConversionError, Ezp2pError
from ..core.image import SourceImage
from ..core.pdf import PDF_MAGIC, check_pdf_bytes

#: PDF user space units per inch (1 pt = 1/72 in).
POINTS_PER_INCH = 72
DEFAULT_DPI = 150
#: The most pixels (frames x rows x columns, after padding) render_pages makes by default:
#: 100 megapixels, 300 MB of RGB; about 45 A4 pages at 150 dpi.
DEFAULT_MAX_PIXELS = 100_000_000
#: Rows and Columns are US in DICOM.
_MAX_SIDE = 65535
_HEAD_TAIL = 1024

_pdfium_lock = threading.RLock()


class PdfError(Ezp2pError, ValueError):
    """A PDF that cannot be read: not a PDF, empty, truncated, damaged or password-protected.

    The message names the file.
    """


def is_pdf_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a file that starts with the PDF header ``%PDF-``. Never raises."""
    try:
        with open(path, "rb") as stream:
            return stream.read(len(PDF_MAGIC)) == PDF_MAGIC
    except (OSError, ValueError, TypeError):
        return False


def read_pdf(path: str | os.PathLike[str]) -> bytes:
    """The bytes of the PDF at ``path``, checked to be a whole PDF that opens.

    Raises PdfError (naming the file) when it is not a PDF, is empty or truncated, is
    damaged beyond what PDFium repairs, needs a password, or has no pages. A PDF that
    is encrypted only to restrict permissions (it opens without a password) is accepted.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PdfError(f"{path}: cannot read the file ({error.strerror or error})") from None
    _check_bytes(path, data)
    with _open(path, data):
        pass
    return data


def pdf_page_count(path: str | os.PathLike[str]) -> int:
    """The number of pages of the PDF at ``path`` (PdfError as for :func:`read_pdf`)."""
    path = Path(path)
    with _open(path) as pdf:
        return len(pdf)


def render_pages(
    path: str | os.PathLike[str],
    *,
    dpi: float = DEFAULT_DPI,
    pages: Sequence[int] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> SourceImage:
    """The pages of the PDF at ``path`` as an RGB 8-bit stack, one frame per page.

    ``pages`` are 1-based page numbers, in the order wanted (all pages by default).
    Each page is rendered at ``dpi`` on white, with its annotations and form fields.
    Frames of a stack share one size, so pages smaller than the largest are padded on
    white at their right and bottom edges (each page keeps its top-left corner, and
    its scale). The image is a scanned document (Conversion Type "SD") with a pixel
    spacing of 25.4 / ``dpi`` mm.

    Raises PdfError when the file cannot be read (see :func:`read_pdf`), a page number
    is out of range, or the stack would have more than ``max_pixels`` pixels or a side
    longer than 65535 (lower the dpi, or send fewer pages).
    """
    path = Path(path)
    if not (math.isfinite(dpi) and dpi > 0):
        raise PdfError(f"{path}: the resolution must be a positive number of dpi, got {dpi}")
    scale = dpi / POINTS_PER_INCH
    with _open(path) as pdf:
        count = len(pdf)
        numbers = list(range(1, count + 1)) if pages is None else [int(p) for p in pages]
        if not numbers:
            raise PdfError(f"{path}: no pages chosen")
        wrong = [n for n in numbers if not 1 <= n <= count]
        if wrong:
            raise PdfError(f"{path}: there is no page {wrong[0]} (the PDF has {count} pages)")
        # The size pypdfium2 renders each page at (its rotation applied).
        sizes = []
        for number in numbers:
            width, height = pdf.get_page_size(number - 1)
            sizes.append((math.ceil(height * scale), math.ceil(width * scale)))
        rows = max(size[0] for size in sizes)
        columns = max(size[1] for size in sizes)
        _check_size(path, dpi, len(numbers), rows, columns, max_pixels)
        stack = np.full((len(numbers), rows, columns, 3), 255, dtype=np.uint8)
        for frame, number in enumerate(numbers):
            _render_into(pdf, number, scale, stack[frame])
    return SourceImage(
        stack,
        bits_stored=8,
        conversion_type="SD",
        pixel_spacing=(25.4 / dpi, 25.4 / dpi),
        source_format="PDF",
    )


def _check_size(
    path: Path, dpi: float, frames: int, rows: int, columns: int, max_pixels: int
) -> None:
    if min(rows, columns) < 1:
        raise PdfError(f"{path}: a page is empty at {dpi:g} dpi")
    if max(rows, columns) > _MAX_SIDE:
        raise PdfError(
            f"{path}: a page would be {columns} x {rows} pixels at {dpi:g} dpi; "
            f"DICOM allows at most {_MAX_SIDE} a side: lower the dpi"
        )
    total = frames * rows * columns
    if total > max_pixels:
        raise PdfError(
            f"{path}: {frames} page(s) of {columns} x {rows} pixels at {dpi:g} dpi make "
            f"{total:,} pixels, more than the limit of {max_pixels:,}: "
            "lower the dpi or choose fewer pages"
        )


def _render_into(pdf, number: int, scale: float, frame: np.ndarray) -> None:
    import pypdfium2.raw as pdfium_c

    page = pdf[number - 1]
    try:
        bitmap = page.render(
            scale=scale,
            may_draw_forms=True,
            force_bitmap_format=pdfium_c.FPDFBitmap_BGR,
            rev_byteorder=True,
        )
        try:
            pixels = bitmap.to_numpy()
            frame[: pixels.shape[0], : pixels.shape[1]] = pixels
        finally:
            bitmap.close()
    finally:
        page.close()


def _check_bytes(path: Path, data: bytes) -> None:
    try:
        check_pdf_bytes(data)
    except ConversionError as error:
        reason = str(error).removeprefix("EncapsulatedDocument: ")
        raise PdfError(f"{path}: {reason}") from None


def _check_file(path: Path) -> None:
    """The header and end-of-file checks of :func:`check_pdf_bytes`, reading only both ends."""
    try:
        with open(path, "rb") as stream:
            size = stream.seek(0, os.SEEK_END)
            stream.seek(0)
            if size <= 2 * _HEAD_TAIL:
                data = stream.read()
            else:
                head = stream.read(_HEAD_TAIL)
                stream.seek(-_HEAD_TAIL, os.SEEK_END)
                data = head + stream.read()
    except OSError as error:
        raise PdfError(f"{path}: cannot read the file ({error.strerror or error})") from None
    _check_bytes(path, data)


@contextmanager
def _open(path: Path, data: bytes | None = None) -> Iterator:
    """The PDF (from ``data``, or read from ``path``) open in PDFium, under the lock.

    Forms are initialised so that filled-in form fields render; the document is closed
    on the way out.
    """
    import pypdfium2 as pdfium

    if data is None:
        _check_file(path)
    with _pdfium_lock:
        try:
            pdf = pdfium.PdfDocument(data if data is not None else path)
        except pdfium.PdfiumError as error:
            raise PdfError(f"{path}: {_load_error(error)}") from None
        except OSError as error:
            raise PdfError(f"{path}: cannot read the file ({error.strerror or error})") from None
        try:
            pdf.init_forms()
            yield pdf
        except pdfium.PdfiumError as error:
            raise PdfError(f"{path}: PDFium could not render it ({error})") from None
        finally:
            pdf.close()


def _load_error(error: Exception) -> str:
    import pypdfium2.raw as pdfium_c

    code = getattr(error, "err_code", None)
    if code == pdfium_c.FPDF_ERR_PASSWORD:
        return "the PDF is encrypted and needs a password; save an unprotected copy"
    if code == pdfium_c.FPDF_ERR_SECURITY:
        return "the PDF is encrypted with an unsupported security handler"
    if code == pdfium_c.FPDF_ERR_FORMAT:
        # PDFium reports a document without pages as a format error too.
        return "the PDF is damaged or has no pages (PDFium finds no page to read)"
    if code in (pdfium_c.FPDF_ERR_SUCCESS, None):
        return "the PDF has no pages"
    return f"PDFium cannot open it ({error})"
