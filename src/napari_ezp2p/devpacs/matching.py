"""C-FIND matching, for both query services of the local PACS (PS3.4 C.2.2.2).

An empty key is universal; ``*`` and ``?`` are wildcards; DA and TM keys take ranges
(``A-B``, ``A-``, ``-B``); UI keys take a list of UIDs separated by backslashes and no
wildcards; any other value must match exactly, but person names match without regard
to case and against any of their groups (``Yamada^Tarou`` finds
``Yamada^Tarou=山田^太郎``). A key is matched by the VR of the DICOM dictionary, not the
one the query declares, in time linear in its length and the value's; a search stops
at its deadline (:func:`within`). Answers hold the requested keys only.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from pydicom import Dataset
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

T = TypeVar("T")


class SearchTimeout(Exception):
    """A search ran past its deadline."""


def within(items: Iterable[T], deadline: float) -> Iterator[T]:
    """``items`` one by one, until ``time.monotonic()`` passes ``deadline``: then
    :class:`SearchTimeout`."""
    for item in items:
        if time.monotonic() > deadline:
            raise SearchTimeout
        yield item


def element_values(value: Any) -> list[str]:
    """A data element's value as a list of strings ([] when empty)."""
    if value is None or value == "":
        return []
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value if str(v) != ""]
    return [str(value)]


def wildcard_match(pattern: str, text: str) -> bool:
    """Whether all of ``text`` matches ``pattern``, ``*`` any run and ``?`` any one
    character, every other character literal. The greedy two-pointer algorithm: at
    most len(pattern) x len(text) steps, never the exponential backtracking of a regex."""
    if len(pattern) - pattern.count("*") > len(text):
        return False  # more characters wanted than there are: also bounds a huge pattern
    p = t = 0
    star, resume = -1, 0
    while t < len(text):
        if p < len(pattern) and pattern[p] in ("?", text[t]) and pattern[p] != "*":
            p += 1
            t += 1
        elif p < len(pattern) and pattern[p] == "*":
            star, resume = p, t
            p += 1
        elif star >= 0:  # let the last star take one more character
            resume += 1
            p, t = star + 1, resume
        else:
            return False
    return pattern[p:].strip("*") == ""


def _name_forms(value: str) -> list[str]:
    """A person name, whole and group by group, without trailing empty components."""
    groups = [group.rstrip("^ ") for group in value.split("=")]
    return [value.rstrip("^= "), *(g for g in groups if g)]


def _normalise_time(value: str) -> str:
    return value.replace(":", "").strip()


def _in_range(vr: str, query: str, value: str) -> bool:
    low, _, high = query.partition("-")
    clean = (lambda v: v.replace(".", "").strip()) if vr == "DA" else _normalise_time
    low, high, value = clean(low), clean(high), clean(value)
    if not value:
        return False
    # Compare at the precision of each bound: "-12" includes 12:59, "2026-" all of 2026.
    if low and value[: len(low)].ljust(len(low), "0") < low:
        return False
    return not (high and value[: len(high)] > high)


def key_matcher(vr: str, query: str) -> Callable[[list[str]], bool]:
    """The test of an attribute's values against one query key (PS3.4 C.2.2.2), the
    key parsed once. ``vr`` is the attribute's VR in the dictionary (:func:`key_vr`)."""
    query = query.strip()
    if vr == "UI":  # a list of UIDs, never wildcards
        if not query:
            return _universal
        wanted = {uid.strip() for uid in query.split("\\")}
        return lambda values: any(value.strip() in wanted for value in values)
    if query.strip("*") == "":
        return _universal  # "*" alone matches empty values too
    tests = [_alternative(vr, wanted) for wanted in query.split("\\")]
    return lambda values: any(test(value.strip()) for value in values for test in tests)


def value_matches(vr: str, query: str, values: list[str]) -> bool:
    """Whether an attribute with ``values`` matches the query ``query``."""
    return key_matcher(vr, query)(values)


def _universal(values: list[str]) -> bool:
    return True


def _alternative(vr: str, wanted: str) -> Callable[[str], bool]:
    """The test of one value against one of a key's backslash-separated alternatives."""
    if vr in ("DA", "TM") and "-" in wanted:
        return lambda value: _in_range(vr, wanted, value)
    if vr == "TM":
        wanted = _normalise_time(wanted)
    elif vr == "PN":
        wanted = wanted.rstrip("^= ").casefold()
    wild = "*" in wanted or "?" in wanted
    if wild:  # "a**b" is "a*b": then the pattern is at most twice the value it can match
        wanted = re.sub(r"\*+", "*", wanted)
    needed = len(wanted) - wanted.count("*")

    def test(value: str) -> bool:
        if vr == "TM":
            value = _normalise_time(value)
        forms = [form.casefold() for form in _name_forms(value)] if vr == "PN" else [value]
        if wild:
            return any(len(form) >= needed and wildcard_match(wanted, form) for form in forms)
        return wanted in forms

    return test


def key_vr(elem: DataElement) -> str:
    """The VR a key is matched and answered by: the dictionary's, not the one the query
    declares (a UID sent as LO still takes no wildcards)."""
    try:
        vr = dictionary_VR(elem.tag)
    except KeyError:
        return elem.VR
    choices = vr.split(" or ")
    return elem.VR if elem.VR in choices else choices[0]


def new_element(tag: int, vr: str, values: list[str]) -> DataElement:
    """A data element holding ``values`` (an empty sequence for SQ)."""
    if vr == "SQ":
        return DataElement(tag, vr, Sequence())
    value: Any = values[0] if len(values) == 1 else (values or "")
    if vr in ("US", "UL", "SS", "SL") and values:
        value = int(values[0]) if len(values) == 1 else [int(v) for v in values]
    return DataElement(tag, vr, value)


def answer_keys(identifier: Dataset) -> list[tuple[int, str, str]]:
    """(tag, keyword, VR) of each key requested, Specific Character Set left out."""
    keys = []
    for elem in identifier:
        keyword = keyword_for_tag(elem.tag)
        if elem.tag.is_private or not keyword or keyword == "SpecificCharacterSet":
            continue
        if elem.tag.element == 0:  # group length
            continue
        keys.append((int(elem.tag), keyword, key_vr(elem)))
    return keys


def query_text(elem: DataElement) -> str:
    """A query key's value as the text ``value_matches`` takes ("" for a sequence)."""
    if elem.VR == "SQ":
        return ""
    return "\\".join(element_values(elem.value))


def element_or_none(ds: Dataset, keyword: str) -> DataElement | None:
    """The data element ``keyword`` of ``ds``, or None when it has none."""
    return ds.data_element(keyword) if keyword in ds else None


def dataset_matches(query: Dataset, source: Dataset, skip: str = "") -> bool:
    """Whether ``source`` matches every key of ``query`` but ``skip`` and sequences."""
    for elem in query:
        keyword = keyword_for_tag(elem.tag)
        if not keyword or keyword in ("SpecificCharacterSet", skip) or elem.VR == "SQ":
            continue
        have = element_or_none(source, keyword)
        if not value_matches(
            key_vr(elem), query_text(elem), element_values(have.value if have else None)
        ):
            return False
    return True


def answer_from(query: Dataset, source: Dataset) -> Dataset:
    """The keys of ``query`` with their values in ``source`` (sequences recursively)."""
    out = Dataset()
    for elem in query:
        keyword = keyword_for_tag(elem.tag)
        if not keyword or keyword == "SpecificCharacterSet" or elem.tag.element == 0:
            continue
        have = element_or_none(source, keyword)
        if elem.VR == "SQ":
            items = list(have.value) if have is not None and have.VR == "SQ" else []
            if elem.value:  # keys requested inside the sequence
                items = [answer_from(elem.value[0], item) for item in items]
            out.add(DataElement(elem.tag, "SQ", Sequence(items)))
        elif have is not None:
            out.add(DataElement(elem.tag, have.VR, have.value))
        else:
            out.add(DataElement(elem.tag, key_vr(elem), None))
    return out
