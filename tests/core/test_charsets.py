"""Names in every Specific Character Set we offer, written and read back.

Each name is in its set's own script. It is read back with pydicom and with a second
decoder: dcmtk's ``dcmdump +U8`` (converting to UTF-8 through glibc iconv), or Orthanc
where that dcmtk cannot. Its bytes are compared with those of Python's own codec of that
set, or for ISO 2022 sets with the whole value, escape sequences and all, as PS3.5
Annexes H and I write it. GDCM's gdcmdump (3.0.21 here) is no decoder: it prints a
value's bytes as they are, every non-ASCII byte as ".".
"""

import json
import re
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread

from napari_ezp2p.core.convert import convert_images, write_atomically
from napari_ezp2p.core.errors import ConversionError
from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.metadata import CHARSETS, Metadata, charset_terms, check_metadata
from napari_ezp2p.core.transfer import transfer_syntax
from tests.peers import dciodvfy_errors, require_tool

IMAGE = SourceImage.from_array(np.zeros((8, 8), np.uint8))

#: Per set: a name in its script, and byte strings its encoded value must hold (a
#: Python stdlib codec's bytes of part of it, or for ISO 2022 the whole value).
ROUND_TRIPS = {
    "ISO_IR 6": ("Doe^John", [b"Doe^John"]),
    "ISO_IR 100": ("Müller^Jürgen", ["Müller".encode("latin_1")]),
    "ISO_IR 101": ("Dvořák^Antonín", ["Dvořák".encode("iso8859_2")]),
    "ISO_IR 109": ("Ġużeppi^Ħabib", ["Ġużeppi".encode("iso8859_3")]),
    "ISO_IR 110": ("Šķēle^Jānis", ["Šķēle".encode("iso8859_4")]),
    "ISO_IR 144": ("Иванов^Пётр", ["Иванов".encode("iso8859_5")]),
    "ISO_IR 127": ("قباني^لنزار", ["قباني".encode("iso8859_6")]),
    "ISO_IR 126": ("Γιωργος^Νικος", ["Γιωργος".encode("iso8859_7")]),
    "ISO_IR 138": ("שרון^דבורה", ["שרון".encode("iso8859_8")]),
    "ISO_IR 148": ("Öztürk^Şükrü", ["Şükrü".encode("iso8859_9")]),
    "ISO_IR 166": ("สมชาย^ใจดี", ["สมชาย".encode("tis_620")]),
    "ISO_IR 13": ("ﾔﾏﾀﾞ^ﾀﾛｳ", [b"\xd4\xcf\xc0\xde^\xc0\xdb\xb3"]),
    "ISO_IR 192": ("Yamada^Tarou=山田^太郎=やまだ^たろう", ["山田".encode()]),
    "GB18030": ("Wang^XiaoDong=王^小东", ["小东".encode("gb18030")]),
    "ISO 2022 IR 87": (  # PS3.5 H.3.2
        "Yamada^Tarou=山田^太郎=やまだ^たろう",
        [b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B"],
    ),
    "ISO 2022 IR 13\\ISO 2022 IR 87": (  # PS3.5 H.3.1
        "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう",
        [
            (
                b"\xd4\xcf\xc0\xde^\xc0\xdb\xb3=\x1b$B;3ED\x1b(J^\x1b$BB@O:\x1b(J="
                b"\x1b$B$d$^$@\x1b(J^\x1b$B$?$m$&\x1b(J"
            )
        ],
    ),
    "ISO 2022 IR 87\\ISO 2022 IR 159": (  # JIS X 0212 for 鷗, JIS X 0208 for the rest
        "Mori^Ogai=森^鷗外=もり^おうがい",
        [
            (
                b"Mori^Ogai=\x1b$B?9\x1b(B^\x1b$(Dl?\x1b$B30\x1b(B="
                b"\x1b$B$b$j\x1b(B^\x1b$B$*$&$,$$\x1b(B"
            )
        ],
    ),
    "ISO 2022 IR 149": (  # PS3.5 I.2
        "Hong^Gildong=洪^吉洞=홍^길동",
        [
            (
                b"Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7="
                b"\x1b$)C\xc8\xab^\x1b$)C\xb1\xe6\xb5\xbf"
            )
        ],
    ),
}

#: Sets this machine's dcmtk (3.6.7, converting through glibc iconv) cannot decode, and
#: what it says: its iconv mode has no ISO 2022 JIS X 0208/0212 code extensions. Orthanc
#: (1.10.1) decodes the first and the last. Of ISO 2022 IR 13\\ISO 2022 IR 87 it keeps
#: the katakana and turns the kanji into their 7-bit bytes ("=;3ED^B@O:"), so that set
#: has no second decoder here: its bytes are asserted whole, as PS3.5 H.3.1 has them.
DCMTK_CANNOT = {
    "ISO 2022 IR 87": "is not supported by the utilized character set conversion library",
    "ISO 2022 IR 13\\ISO 2022 IR 87": "is not supported by the utilized character set",
    "ISO 2022 IR 87\\ISO 2022 IR 159": "is not supported by the utilized character set",
}
ORTHANC_DECODES = ["ISO 2022 IR 87", "ISO 2022 IR 87\\ISO 2022 IR 159"]

#: dciodvfy (dicom3tools 2022-06-18) refuses every byte of the katakana half (G1) of
#: JIS X 0201 under ISO_IR 13, which PS3.3 Table C.12-2 defines as that half. The same
#: bytes pass under ISO 2022 IR 13\\ISO 2022 IR 87, where the same set is in G1.
DCIODVFY_WRONG = {"ISO_IR 13": "Character invalid for character repertoire"}
DCIODVFY_SUMMARY = "Error - Dicom dataset contains invalid data values for Value Representations"


def test_every_offered_set_has_a_round_trip():
    assert set(ROUND_TRIPS) == set(CHARSETS)


def _dcmdump_name(path) -> subprocess.CompletedProcess:
    tool = require_tool("dcmdump")
    return subprocess.run(
        [tool, "+U8", "+P", "0010,0010", str(path)], capture_output=True, text=True
    )


def _written(charset: str, folder: Path) -> Path:
    meta = Metadata(patient_name=ROUND_TRIPS[charset][0], charset=charset)
    (ds,) = convert_images([IMAGE], meta, transfer_syntax("explicit-le"))
    return write_atomically(ds, folder / "name.dcm")


@pytest.mark.parametrize("charset", list(ROUND_TRIPS))
def test_a_name_round_trips_in_its_own_script(tmp_path, charset):
    name, fragments = ROUND_TRIPS[charset]
    path = _written(charset, tmp_path)
    data = path.read_bytes()
    for fragment in fragments:
        assert fragment in data
    if charset == "ISO_IR 6":  # the default repertoire is written by leaving the set out
        assert "SpecificCharacterSet" not in dcmread(path)
    else:
        assert "\\".join(charset_terms(charset)).encode() in data
    assert str(dcmread(path).PatientName) == name
    dumped = _dcmdump_name(path)
    if charset in DCMTK_CANNOT:
        assert dumped.returncode != 0 and DCMTK_CANNOT[charset] in dumped.stderr
    else:
        assert dumped.returncode == 0, dumped.stderr
        assert re.search(r"PN \[(.*)\]", dumped.stdout).group(1) == name
    errors = dciodvfy_errors(path)
    if charset in DCIODVFY_WRONG:
        wrong = [e for e in errors if DCIODVFY_WRONG[charset] in e]
        assert wrong, f"dciodvfy now takes {charset}: drop it from DCIODVFY_WRONG"
        assert all("Patient's Name" in e for e in wrong)
        assert set(errors) - set(wrong) == {DCIODVFY_SUMMARY}
    else:
        assert errors == []


def test_the_default_repertoire_is_no_term_dciodvfy_or_dcmtk_warns_about(tmp_path):
    path = _written("ISO_IR 6", tmp_path)
    report = subprocess.run(
        [require_tool("dciodvfy"), str(path)], capture_output=True, text=True, errors="replace"
    )
    assert "Specific Character Set" not in report.stdout + report.stderr
    dumped = _dcmdump_name(path)
    assert "Unrecognized" not in dumped.stdout + dumped.stderr


@pytest.mark.parametrize("charset", ORTHANC_DECODES)
def test_orthanc_reads_the_names_dcmtk_cannot(orthanc, tmp_path, charset):
    pacs = orthanc()
    data = _written(charset, tmp_path).read_bytes()
    request = urllib.request.Request(f"{pacs.http}/instances", data=data, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        instance = json.load(response)["ID"]
    tags = pacs.rest(f"/instances/{instance}/simplified-tags")
    assert tags["PatientName"] == ROUND_TRIPS[charset][0]


@pytest.mark.parametrize(
    ("charset", "term", "instead"),
    [
        ("ISO 2022 IR 58", "ISO 2022 IR 58", "GB18030"),
        ("\\ISO 2022 IR 58", "ISO 2022 IR 58", "GB18030"),
        ("GBK", "GBK", "GB18030"),
        ("ISO 2022 IR 100", "ISO 2022 IR 100", "ISO_IR 100"),
    ],
)
def test_sets_that_cannot_be_written_right_are_refused_with_the_reason(charset, term, instead):
    assert term not in CHARSETS
    with pytest.raises(ConversionError, match=f"{re.escape(term)} is not offered: .*{instead}"):
        charset_terms(charset)


def test_half_width_katakana_names_fit_iso_ir_13():
    check_metadata(Metadata(patient_name="ﾔﾏﾀﾞ^ﾀﾛｳ", charset="ISO_IR 13"))


def test_katakana_and_ascii_in_one_name_component_are_refused_in_iso_ir_13():
    # pydicom encodes a component with one half of JIS X 0201 and writes "?" otherwise
    with pytest.raises(ConversionError, match="PatientName .*ISO_IR 13"):
        check_metadata(Metadata(patient_name="ﾔﾏﾀﾞ ﾀﾛｳ", charset="ISO_IR 13"))


def test_a_queried_value_the_set_cannot_hold_is_refused_before_anything_is_built():
    meta = Metadata(
        patient_name="YAMADA^TARO", charset="ISO_IR 100", queried={"PatientName": "山田^太郎"}
    )
    with pytest.raises(ConversionError) as error:
        convert_images([IMAGE], meta, transfer_syntax("explicit-le"))
    message = str(error.value)
    assert message.startswith("OriginalAttributesSequence: the previous value from the query")
    assert "PatientName '山田^太郎'" in message and "ISO_IR 100" in message
