"""C-FIND matching, for both query services of the local PACS (PS3.4 C.2.2.2).

An empty key is universal; ``*`` and ``?`` are wildcards; DA and TM keys take ranges
(``A-B``, ``A-``, ``-B``); UI keys take a list of UIDs separated by backslashes; any
other value must match exactly, but person names match without regard to case and
against any of their groups (``Yamada^Tarou`` finds ``Yamada^Tarou=山田^太郎``).
Answers hold the requested keys only.
"""

from __future__ import annotations

import re
from typing import Any

from pydicom import Dataset
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence


def element_values(value: Any) -> list[str]:
    """A data element's value as a list of strings ([] when empty)."""
    if value is None or value == "":
        return []
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value if str(v) != ""]
    return [str(value)]


def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """``*`` and ``?`` as DICOM wildcards; every other character literal."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


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


def value_matches(vr: str, query: str, values: list[str]) -> bool:
    """Whether an attribute with ``values`` matches the query ``query`` (PS3.4 C.2.2.2)."""
    query = query.strip()
    if not query or query.strip("*") == "":
        return True  # universal matching; "*" alone matches empty values too
    if vr == "UI":
        wanted = {uid.strip() for uid in query.split("\\")}
        return any(v.strip() in wanted for v in values)
    alternatives = query.split("\\")
    for value in values:
        value = value.strip()
        for wanted in alternatives:
            if vr in ("DA", "TM") and "-" in wanted:
                if _in_range(vr, wanted, value):
                    return True
                continue
            if vr == "TM":
                value, wanted = _normalise_time(value), _normalise_time(wanted)
            forms = _name_forms(value) if vr == "PN" else [value]
            if vr == "PN":
                wanted = wanted.rstrip("^= ")
            if "*" in wanted or "?" in wanted:
                pattern = _wildcard(wanted, ignore_case=vr == "PN")
                if any(pattern.fullmatch(form) for form in forms):
                    return True
            elif vr == "PN":
                if any(form.casefold() == wanted.casefold() for form in forms):
                    return True
            elif value == wanted:
                return True
    return False


def _vr(tag: int) -> str:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"


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
        keys.append((int(elem.tag), keyword, elem.VR if elem.VR != "UN" else _vr(elem.tag)))
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
            elem.VR, query_text(elem), element_values(have.value if have else None)
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
            out.add(DataElement(elem.tag, elem.VR if elem.VR != "UN" else _vr(elem.tag), None))
    return out
