"""The worklist order an object was made for: its Request Attributes Sequence.

IHE Scheduled Workflow carries the order of a Modality Worklist item into the object:
the General Series module's Request Attributes Sequence (0040,0275), PS3.3 C.7.3.1,
holds the Requested Procedure and the Scheduled Procedure Step (their IDs,
descriptions and codes) and the Accession Number, which is also the General Study
module's own attribute (C.7.2.1).
"""

from __future__ import annotations

import copy

from pydicom import Dataset

from .metadata import check_value

#: Keywords of a worklist item (top level) that go in the Request Attributes item.
REQUESTED_PROCEDURE_KEYS = (
    "RequestedProcedureID",
    "RequestedProcedureDescription",
    "RequestedProcedureCodeSequence",
)
#: Keywords of its Scheduled Procedure Step item that go there too.
SCHEDULED_STEP_KEYS = (
    "ScheduledProcedureStepID",
    "ScheduledProcedureStepDescription",
    "ScheduledProtocolCodeSequence",
)


def request_item(match: Dataset) -> Dataset | None:
    """The Request Attributes item of a worklist item (its first scheduled step), or
    None when ``match`` is no worklist item (it names no requested procedure or step)."""
    steps = match.get("ScheduledProcedureStepSequence") or [Dataset()]
    item = Dataset()
    for source, keys in ((match, REQUESTED_PROCEDURE_KEYS), (steps[0], SCHEDULED_STEP_KEYS)):
        for keyword in keys:
            if keyword in source and source[keyword].value:
                item[keyword] = copy.deepcopy(source[keyword])
    if "RequestedProcedureID" not in item and "ScheduledProcedureStepID" not in item:
        return None
    return item


def set_request_attributes(ds: Dataset, request: Dataset | None, accession_number: str) -> None:
    """Write the Request Attributes Sequence of ``request`` (a :func:`request_item`),
    with the object's Accession Number; nothing when there is no order."""
    if request is None:
        return
    item = copy.deepcopy(request)
    if accession_number:
        item.AccessionNumber = accession_number
    ds.RequestAttributesSequence = [item]


def check_request(request: Dataset | None, terms: list[str]) -> None:
    """Raise ConversionError naming the first value of ``request`` (its code items too)
    that cannot be written in the Specific Character Set ``terms``."""
    for element in request or ():
        if element.VR == "SQ":
            for item in element.value:
                check_request(item, terms)
        elif element.keyword and isinstance(element.value, str):
            check_value(element.keyword, element.value, terms)
