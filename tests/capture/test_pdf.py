import contextlib
import hashlib
import os
import struct
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageDraw

from napari_ezp2p.capture.pdf import (
    PdfError,
    is_pdf_file,
    pdf_page_count,
    read_pdf,
    render_pages,
)
from napari_ezp2p.core.convert import write_atomically
from napari_ezp2p.core.errors import Ezp2pError
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.pdf import build_encapsulated_pdf
from napari_ezp2p.core.sc import (
    MULTIFRAME_TRUE_COLOUR,
    SECONDARY_CAPTURE,
    build_sc,
    complete_metadata,
)
from napari_ezp2p.core.transfer import transfer_syntax
from tests.peers import dciodvfy_errors

DPI = 100
SCALE = DPI / 72
#: Page 1's black box, in points from the top-left corner (Pillow draws in pixels
#: and saves at 72 dpi, so pixels are points).
BOX = (100, 200, 300, 260)
LETTER = (612, 792)
SMALL = (400, 300)


def _page(size, number: int) -> Image.Image:
    page = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(page)
    draw.text((40, 30), f"Page {number} of the report", fill="black")
    return page


@pytest.fixture
def report(tmp_path) -> Path:
    """Three pages: Letter with a black box, Letter with a red bar, a smaller landscape
    page with a black square in its bottom-right corner."""
    first = _page(LETTER, 1)
    ImageDraw.Draw(first).rectangle((BOX[0], BOX[1], BOX[2] - 1, BOX[3] - 1), fill="black")
    second = _page(LETTER, 2)
    ImageDraw.Draw(second).rectangle((50, 400, 550, 420), fill=(220, 40, 40))
    third = _page(SMALL, 3)
    ImageDraw.Draw(third).rectangle((360, 260, 399, 299), fill="black")
    path = tmp_path / "report.pdf"
    first.save(path, save_all=True, append_images=[second, third], resolution=72)
    return path


def _px(points: float) -> int:
    return round(points * SCALE)


def test_page_count_and_stack(report):
    assert is_pdf_file(report)
    assert pdf_page_count(report) == 3
    image = render_pages(report, dpi=DPI)

    rows, columns = _px(LETTER[1]), _px(LETTER[0])
    assert image.shape == (3, rows, columns, 3)
    assert image.pixels.dtype == np.uint8
    assert image.is_colour and image.bits_stored == 8
    assert image.conversion_type == "SD"
    assert image.pixel_spacing == pytest.approx((0.254, 0.254))
    assert image.source_format == "PDF"


def test_page_content_lands_where_drawn(report):
    page = render_pages(report, dpi=DPI).pixels[0].astype(int).sum(axis=-1) // 3
    left, top, right, bottom = (_px(v) for v in BOX)
    assert page[top + 3 : bottom - 3, left + 3 : right - 3].max() < 60
    margin = 4
    for strip in (
        page[top - 3 * margin : top - margin, left:right],
        page[bottom + margin : bottom + 3 * margin, left:right],
        page[top:bottom, left - 3 * margin : left - margin],
        page[top:bottom, right + margin : right + 3 * margin],
    ):
        assert strip.min() > 200
    # The box's edges, from the dark pixels below the heading text.
    dark_rows, dark_columns = np.nonzero(page[100:, :] < 128)
    assert abs(dark_rows.min() + 100 - top) <= 2 and abs(dark_rows.max() + 100 - bottom) <= 2
    assert abs(dark_columns.min() - left) <= 2 and abs(dark_columns.max() - right) <= 2


def test_smaller_pages_are_padded_on_white_at_right_and_bottom(report):
    stack = render_pages(report, dpi=DPI).pixels
    third = stack[2]
    height, width = _px(SMALL[1]), _px(SMALL[0])
    assert (third[height + 1 :, :] == 255).all()
    assert (third[:, width + 1 :] == 255).all()
    # The page keeps its top-left corner: its bottom-right square ends at its own size.
    square = third[_px(265) : height - 3, _px(365) : width - 3]
    assert square.max() < 60
    assert third[_px(200), _px(100)].min() > 200
    # Page 2's red bar is red: the channels are in RGB order.
    bar = stack[1, _px(405) : _px(415), _px(100) : _px(500)].reshape(-1, 3).mean(axis=0)
    assert bar == pytest.approx((220, 40, 40), abs=15)


def test_chosen_pages_in_order_and_dpi(report):
    image = render_pages(report, dpi=50, pages=[3, 1])
    assert image.shape == (2, 550, 425, 3)  # Letter, 612 x 792 pt, at 50 dpi
    assert image.pixel_spacing == pytest.approx((25.4 / 50, 25.4 / 50))
    # Frame 0 is page 3: its dark square, in the small page's bottom-right corner.
    assert image.pixels[0, 190:205, 255:275].max() < 80
    with pytest.raises(PdfError, match="no page 4"):
        render_pages(report, pages=[1, 4])
    with pytest.raises(PdfError, match="limit"):
        render_pages(report, dpi=300, max_pixels=10_000_000)


def test_pages_become_a_valid_multiframe_secondary_capture(report, tmp_path):
    meta = complete_metadata(Metadata(), datetime.now())
    ts = transfer_syntax("explicit-le")

    pages = build_sc(render_pages(report, dpi=72), meta, ts)
    path = write_atomically(pages, tmp_path / "pages.dcm")
    assert dciodvfy_errors(path) == []
    back = pydicom.dcmread(path)
    assert back.SOPClassUID == MULTIFRAME_TRUE_COLOUR
    assert back.NumberOfFrames == 3
    assert back.ConversionType == "SD"
    assert [float(v) for v in back.NominalScannedPixelSpacing] == pytest.approx([25.4 / 72] * 2)
    assert back.pixel_array.shape == (3, 792, 612, 3)

    one = build_sc(render_pages(report, dpi=72, pages=[1]), meta, ts, instance_number=2)
    path = write_atomically(one, tmp_path / "page1.dcm")
    assert dciodvfy_errors(path) == []
    assert pydicom.dcmread(path).SOPClassUID == SECONDARY_CAPTURE


def test_read_pdf_returns_the_bytes_that_encapsulate(report, tmp_path):
    data = read_pdf(report)
    assert data == report.read_bytes()
    path = write_atomically(build_encapsulated_pdf(data, Metadata()), tmp_path / "doc.dcm")
    assert dciodvfy_errors(path) == []


def _open_handles(path: Path) -> int:
    target = str(path.resolve())
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):  # the listing's own fd is gone when read
            count += os.readlink(fd) == target
    return count


def test_no_file_handle_is_left_open(report, tmp_path):
    pdf = pdfium.PdfDocument(report)
    assert _open_handles(report) == 1  # the check sees an open document
    pdf.close()
    assert _open_handles(report) == 0

    pdf_page_count(report)
    render_pages(report, dpi=20)
    read_pdf(report)
    assert _open_handles(report) == 0
    with pytest.raises(PdfError):
        render_pages(report, pages=[9])
    assert _open_handles(report) == 0
    locked = tmp_path / "locked.pdf"
    locked.write_bytes(_encrypted_pdf(b"secret"))
    with pytest.raises(PdfError):
        render_pages(locked)
    assert _open_handles(locked) == 0


# A tiny PDF encrypted with the standard security handler, revision 2 (RC4, 40-bit key,
# PDF 1.7 section 7.6.3), written here so the test needs no encrypting tool.
_PASSWORD_PAD = bytes.fromhex("28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a")


def _rc4(key: bytes, data: bytes) -> bytes:
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) % 256
        state[i], state[j] = state[j], state[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + state[i]) % 256
        state[i], state[j] = state[j], state[i]
        out.append(byte ^ state[(state[i] + state[j]) % 256])
    return bytes(out)


def _encrypted_pdf(user_password: bytes, owner_password: bytes = b"owner") -> bytes:
    """One 200 x 200 pt page with a black square (72, 72)-(144, 144) from its bottom left."""
    file_id = bytes(range(16))
    permissions = -4
    owner_key = hashlib.md5((owner_password + _PASSWORD_PAD)[:32]).digest()[:5]
    owner_entry = _rc4(owner_key, (user_password + _PASSWORD_PAD)[:32])
    key = hashlib.md5(
        (user_password + _PASSWORD_PAD)[:32]
        + owner_entry
        + struct.pack("<i", permissions)
        + file_id
    ).digest()[:5]
    user_entry = _rc4(key, _PASSWORD_PAD)
    object_key = hashlib.md5(key + (4).to_bytes(3, "little") + b"\0\0").digest()[:10]
    content = _rc4(object_key, b"0 0 0 rg 72 72 72 72 re f")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>"
        % (owner_entry.hex().encode(), user_entry.hex().encode(), permissions),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 5 0 R /ID [<%s> <%s>] >>\n" % (
        len(objects) + 1,
        file_id.hex().encode(),
        file_id.hex().encode(),
    )
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _square_is_black(pdf: pdfium.PdfDocument) -> bool:
    page = pdf[0]
    bitmap = page.render(scale=1)
    pixels = bitmap.to_numpy().copy()
    bitmap.close()
    page.close()
    return pixels[90:120, 80:136].max() < 30 and pixels[10:50, 10:50].min() > 220


def test_password_protected_pdf_is_refused(tmp_path):
    path = tmp_path / "locked.pdf"
    path.write_bytes(_encrypted_pdf(b"secret"))
    # The file is a genuine encrypted PDF: it opens, and decrypts, with its password.
    pdf = pdfium.PdfDocument(path, password="secret")
    assert _square_is_black(pdf)
    pdf.close()

    for read in (read_pdf, pdf_page_count, render_pages):
        with pytest.raises(PdfError, match="encrypted and needs a password") as caught:
            read(path)
        assert str(path) in str(caught.value)


def test_permissions_only_encryption_is_accepted(tmp_path):
    path = tmp_path / "restricted.pdf"
    path.write_bytes(_encrypted_pdf(b""))
    assert read_pdf(path) == path.read_bytes()
    page = render_pages(path, dpi=72).pixels[0]
    assert page[90:120, 80:136].max() < 30  # decrypted content, not an empty page


@pytest.mark.parametrize("case", ["empty", "png", "truncated", "damaged", "no-pages", "missing"])
def test_bad_files_are_pdf_errors_naming_the_file(report, tmp_path, case):
    path = tmp_path / f"{case}.pdf"
    whole = report.read_bytes()
    if case == "empty":
        path.write_bytes(b"")
        message = "empty"
    elif case == "png":
        Image.new("RGB", (8, 8)).save(path, format="PNG")
        message = "not a PDF"
    elif case == "truncated":
        path.write_bytes(whole[: len(whole) // 2])
        message = "truncated"
    elif case == "damaged":
        path.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n")
        message = "damaged"
    elif case == "no-pages":
        empty = pdfium.PdfDocument.new()
        empty.save(path)
        empty.close()
        message = "no pages"
    else:
        message = "cannot read"
    assert not is_pdf_file(path) or case in ("truncated", "damaged", "no-pages")
    for read in (read_pdf, pdf_page_count, render_pages):
        with pytest.raises(PdfError, match=message) as caught:
            read(path)
        assert str(path) in str(caught.value)
        assert isinstance(caught.value, Ezp2pError)


def test_is_pdf_file_never_raises(tmp_path, report):
    assert is_pdf_file(report)
    assert is_pdf_file(str(report))
    assert not is_pdf_file(tmp_path)  # a folder
    assert not is_pdf_file(tmp_path / "nowhere.pdf")
    assert not is_pdf_file("bad\0name")
    text = tmp_path / "notes.pdf"
    text.write_text("PDF-like words, but no header")
    assert not is_pdf_file(text)
