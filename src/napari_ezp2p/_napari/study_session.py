"""One study per session: consecutive sends of a viewer go into the same study.

The first send of a session's study fixes what :func:`~napari_ezp2p.core.sc.complete_metadata`
would otherwise make anew at every send: the Study Instance UID, the study's date, time
and ID, and a generated Patient ID with its issuer. They go into ``session.metadata``
(so the Study dock shows them and every later send carries them), and the next send is
a new series in that study, numbered one more, unless the user attached to a series.

"New study" (:func:`fresh_study`) and "Clear" in the Study dock start again. A patient
field changed after sends into the session's own study starts a new study too
(:func:`edited`): a new patient never lands in the old patient's study. A study picked
from a query stays attached: an edit there is a correction, recorded as coerced.

Everything here runs on the main thread, when a send is started: two quick clicks
share the study as well.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from ..core.errors import Ezp2pError
from ..core.metadata import GENERATED_ISSUER, Metadata
from ..core.sc import complete_metadata
from ..jobs.study import PATIENT_FIELDS, attachment, new_study

#: What the first send of a study fixes for the sends after it.
KEPT = (
    "study_instance_uid",
    "study_date",
    "study_time",
    "study_id",
    "patient_id",
    "issuer_of_patient_id",
)


@dataclass(frozen=True)
class SessionStudy:
    """The study the session's sends went into: its UID, how many sends, and the series
    number of its first send (what "New study" numbers from again)."""

    uid: str = ""
    sends: int = 0
    first_series_number: int = 1

    def holds(self, meta: Metadata) -> bool:
        """Whether ``meta`` is (still) in this study, after at least one send."""
        return bool(self.uid) and self.sends > 0 and meta.study_instance_uid == self.uid


def next_send(session, defaults: Metadata | None = None) -> Metadata:
    """The metadata of the send starting now, with the session kept for the next one.

    ``defaults`` (``config.metadata_defaults``) stand for a session nobody filled
    (no Study dock). The first send of a study fixes its :data:`KEPT` values in
    ``session.metadata``; after it the session's series number is the next one, unless
    the study was attached to an existing series. Metadata that cannot be written is
    returned as it is: the send fails with the reason, and the session is unchanged.
    """
    meta = session.metadata
    if meta == Metadata() and defaults is not None:
        meta = defaults
    try:
        completed = complete_metadata(meta, datetime.now())
    except Ezp2pError:
        return meta
    study = session.study
    if not study.holds(meta):
        study = SessionStudy(completed.study_instance_uid, 0, meta.series_number)
    send = dataclasses.replace(meta, **{name: getattr(completed, name) for name in KEPT})
    following = send
    if not send.series_instance_uid and send.series_number < 2**31 - 1:
        following = dataclasses.replace(send, series_number=send.series_number + 1)
    session.study = dataclasses.replace(study, sends=study.sends + 1)
    session.metadata = following
    return send


def fresh_study(session) -> Metadata:
    """The session's metadata for a new study of the same patient ("New study"): no
    study values, series numbered again from the first send's number."""
    meta = new_study(session.metadata)
    if session.study.holds(session.metadata):
        meta = dataclasses.replace(meta, series_number=session.study.first_series_number)
    return meta


def edited(study: SessionStudy, before: Metadata, after: Metadata) -> Metadata:
    """``after``, the form's values edited from ``before``: a new study when a patient
    field changed after sends into the session's own study (see the module docs); a
    Patient ID the session generated is then made anew at the next send too."""
    changed = [name for name in PATIENT_FIELDS if getattr(before, name) != getattr(after, name)]
    if not changed or not study.holds(before) or "StudyInstanceUID" in before.queried:
        return after
    meta = dataclasses.replace(new_study(after), series_number=study.first_series_number)
    if before.issuer_of_patient_id == GENERATED_ISSUER:
        patient_id = after.patient_id if "patient_id" in changed else ""
        meta = dataclasses.replace(meta, patient_id=patient_id, issuer_of_patient_id="")
    return meta


def study_label(meta: Metadata, study: SessionStudy) -> str:
    """What the next send of ``meta`` adds to, saying when it is the session's study."""
    if not study.holds(meta):
        return attachment(meta)
    times = "1 time" if study.sends == 1 else f"{study.sends} times"
    if "StudyInstanceUID" in meta.queried:
        return f"{attachment(meta)} Sent {times} this session."
    series = (
        "the same series"
        if meta.series_instance_uid
        else f"a new series (number {meta.series_number})"
    )
    return (
        f"Study of this session: sent {times}, the next send adds {series}. "
        "New study or a changed patient starts another."
    )
