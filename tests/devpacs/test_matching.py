"""The C-FIND matching rules of the local PACS, value by value."""

from __future__ import annotations

import time

import pytest
from pydicom.dataelem import DataElement

from napari_ezp2p.devpacs.matching import key_vr, value_matches, wildcard_match


@pytest.mark.parametrize(
    ("vr", "query", "values", "expected"),
    [
        ("LO", "", [], True),
        ("LO", "*", [], True),
        ("LO", "a", [], False),
        ("LO", "a(b", ["a(b"], True),  # regex metacharacters are literal
        ("LO", "a[bc]", ["ab"], False),  # no character classes as in fnmatch
        ("LO", "a?c", ["abc"], True),
        ("LO", "a?c", ["abbc"], False),
        ("PN", "YAMADA*", ["Yamada^Tarou=山田^太郎"], True),
        ("PN", "山田^太郎", ["Yamada^Tarou=山田^太郎"], True),
        ("PN", "Yamada^Tarou^^", ["Yamada^Tarou"], True),
        ("DA", "20260101-20261231", ["20261129"], True),
        ("DA", "20260101-20261231", ["20270101"], False),
        ("DA", "20260101-20261231", [], False),
        ("TM", "0900-1000", ["10:00:30"], True),
        ("TM", "0900-1000", ["100100"], False),
        ("UI", "1.2\\1.3", ["1.3"], True),
        ("UI", "1.2\\1.3", ["1.23"], False),
        ("UI", "1.*", ["1.2"], False),  # no wildcards on UIDs
        ("UI", "*", ["1.2"], False),
        ("UI", "", ["1.2"], True),
        ("CS", "OT", ["XC", "OT"], True),
    ],
)
def test_value_matches(vr, query, values, expected):
    assert value_matches(vr, query, values) is expected


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("", "", True),
        ("", "a", False),
        ("*", "", True),
        ("a*", "abc", True),
        ("*c", "abc", True),
        ("a*b*c", "aXbYc", True),
        ("a*b*c", "aXbY", False),
        ("a?c", "abc", True),
        ("?", "", False),
        ("*a*", "bab", True),
        ("**a**", "a", True),
        ("a*a*a", "aaaa", True),
        ("a*a*a", "aa", False),
        ("*ab", "aab", True),  # the star must give back what it took
        ("*", "*", True),
        ("a*", "*a", False),
    ],
)
def test_wildcard_match(pattern, text, expected):
    assert wildcard_match(pattern, text) is expected


@pytest.mark.parametrize("vr", ["PN", "LO"])
def test_a_backtracking_pattern_is_matched_in_linear_time(vr):
    started = time.monotonic()
    assert not value_matches(vr, "*a" * 12 + "*b", ["a" * 64])
    assert not value_matches(vr, "*" + "a*" * 500_000, ["a" * 64])
    assert value_matches(vr, "*" * 1_000_000 + "a", ["a" * 64])
    assert value_matches(vr, "*a" * 32 + "*", ["a" * 64])
    assert time.monotonic() - started < 0.5


def test_keys_take_the_dictionary_vr_not_the_declared_one():
    assert key_vr(DataElement(0x0020000D, "LO", "*")) == "UI"  # Study Instance UID
    assert key_vr(DataElement(0x00100010, "UN", b"Doe")) == "PN"
    assert key_vr(DataElement(0x00280106, "SS", 0)) == "SS"  # "US or SS": as declared
    assert key_vr(DataElement(0x00280106, "LO", "0")) == "US"
