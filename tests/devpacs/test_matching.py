"""The C-FIND matching rules of the local PACS, value by value."""

from __future__ import annotations

import pytest

from napari_ezp2p.devpacs.matching import value_matches


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
        ("CS", "OT", ["XC", "OT"], True),
    ],
)
def test_value_matches(vr, query, values, expected):
    assert value_matches(vr, query, values) is expected
