"""Study Root C-FIND against Orthanc, Modality Worklist C-FIND against wlmscpfs."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from napari_ezp2p.net.association import NetworkError
from napari_ezp2p.net.query import STUDY_KEYS, QueryError, _identifier, find_studies, find_worklist
from napari_ezp2p.net.store import store
from tests.net.helpers import SETTINGS, fake_scp, sc_objects


@pytest.fixture
def study_in_orthanc(orthanc):
    server = orthanc()
    objects = sc_objects(3, patient_name="Tanaka^Hanako", patient_id="P77", study_date="20260115")
    report = store(objects, server.destination, SETTINGS)
    assert report.ok, report.error
    return server, objects


def test_orthanc_study_found_by_name_wildcard_and_date_range(study_in_orthanc):
    server, objects = study_in_orthanc
    study_uid = objects[0].StudyInstanceUID
    (study,) = server.rest("/studies")
    assert len(server.rest(f"/studies/{study}/instances")) == 3

    by_name = find_studies({"PatientName": "Tanaka*"}, server.destination, SETTINGS)
    assert [m.StudyInstanceUID for m in by_name] == [study_uid]
    assert by_name[0].PatientID == "P77"
    assert by_name[0].StudyDate == "20260115"
    assert by_name[0].QueryRetrieveLevel == "STUDY"

    in_range = {"StudyDate": "20260101-20260131"}
    assert [m.StudyInstanceUID for m in find_studies(in_range, server.destination, SETTINGS)]
    assert find_studies({"StudyDate": "20250101-20251231"}, server.destination, SETTINGS) == []
    assert find_studies({"PatientName": "Suzuki*"}, server.destination, SETTINGS) == []


def test_orthanc_series_level(study_in_orthanc):
    server, objects = study_in_orthanc
    query = {"StudyInstanceUID": objects[0].StudyInstanceUID}
    (series,) = find_studies(query, server.destination, SETTINGS, level="SERIES")
    assert series.SeriesInstanceUID == objects[0].SeriesInstanceUID
    assert series.Modality == "OT"
    assert series.QueryRetrieveLevel == "SERIES"


def test_study_query_sends_every_key_of_the_spec_table():
    with fake_scp() as scp:
        find_studies({"PatientName": "A*"}, scp.destination, SETTINGS)
    # the identifier is checked where it is built
    identifier = _identifier({"PatientName": "A*"}, STUDY_KEYS, (), "ISO_IR 192")
    assert {e.keyword for e in identifier} >= set(STUDY_KEYS) | {"SpecificCharacterSet"}
    assert identifier.PatientName == "A*"
    assert identifier.StudyDate == ""


def test_bad_query_keys_and_ranges_are_errors():
    with pytest.raises(QueryError, match="not a DICOM keyword"):
        _identifier({"PatientNme": "x"}, STUDY_KEYS, (), "ISO_IR 192")
    with pytest.raises(QueryError, match="StudyDate"):
        _identifier({"StudyDate": "2026-01-01"}, STUDY_KEYS, (), "ISO_IR 192")
    with pytest.raises(QueryError, match="not STUDY or SERIES"):
        find_studies({}, None, SETTINGS, level="IMAGE")


def test_orthanc_refuses_queries_from_an_unknown_ae(orthanc):
    server = orthanc(DicomModalities={})
    with pytest.raises(NetworkError, match="orthanc"):
        find_studies({}, server.destination, SETTINGS)


# ---------------------------------------------------------------------------------------
# Worklist


def _item(name, charset, modality, date, station, accession) -> Dataset:
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    ds.PatientName = name
    ds.PatientID = accession.replace("A", "P")
    ds.PatientBirthDate = "19800101"
    ds.PatientSex = "F"
    ds.AccessionNumber = accession
    ds.ReferringPhysicianName = ""
    ds.StudyInstanceUID = generate_uid()
    ds.RequestedProcedureDescription = f"{modality} exam"
    ds.RequestedProcedureID = accession
    sps = Dataset()
    sps.ScheduledStationAETitle = station
    sps.ScheduledProcedureStepStartDate = date
    sps.ScheduledProcedureStepStartTime = "090000"
    sps.Modality = modality
    sps.ScheduledProcedureStepID = accession
    sps.ScheduledProcedureStepDescription = "step"
    ds.ScheduledProcedureStepSequence = [sps]
    return ds


JAPANESE = "Yamada^Tarou=山田^太郎=やまだ^たろう"
KOREAN = "Hong^Gildong=洪^吉洞=홍^길동"
UTF8 = "Gröbner^Zoë=王^小東"
LATIN1 = "Müller^Jürgen"
LATIN1_LO = "Échographie abdominale"


@pytest.fixture
def worklist(wlmscpfs):
    items = [
        _item(JAPANESE, ["", "ISO 2022 IR 87"], "CT", "20260110", "SCANNER1", "A1"),
        _item(KOREAN, ["", "ISO 2022 IR 149"], "MR", "20260120", "SCANNER2", "A2"),
        _item(UTF8, "ISO_IR 192", "OT", "20260201", "SCANNER1", "A3"),
    ]
    latin = _item("X", None, "US", "20260301", "SCANNER3", "A4")
    latin.add_new(0x00100010, "PN", LATIN1.encode("latin-1"))  # no charset declared
    latin.add_new(0x00321060, "LO", LATIN1_LO.encode("latin-1"))
    return wlmscpfs([*items, latin])


def _names(matches) -> dict[str, str]:
    return {m.AccessionNumber: str(m.PatientName) for m in matches}


def test_worklist_names_in_every_charset(worklist):
    raw = worklist.files[3].read_bytes()
    assert LATIN1.encode("latin-1") in raw and b"SpecificCharacterSet" not in raw
    matches = find_worklist({}, worklist.destination, SETTINGS)
    assert _names(matches) == {"A1": JAPANESE, "A2": KOREAN, "A3": UTF8, "A4": LATIN1}
    (latin,) = [m for m in matches if m.AccessionNumber == "A4"]
    assert latin.RequestedProcedureDescription == LATIN1_LO  # text other than names too
    assert latin.SpecificCharacterSet == "ISO_IR 100"  # the fallback, now declared


def test_worklist_fallback_charset_is_configurable(worklist):
    query = {"AccessionNumber": "A4"}
    (match,) = find_worklist(query, worklist.destination, SETTINGS, fallback_charset="ISO_IR 148")
    # the same bytes in Latin-5 (Turkish): ü is 0xFC in both, so the name stays readable
    assert str(match.PatientName) == LATIN1
    (match,) = find_worklist(query, worklist.destination, SETTINGS, fallback_charset="ISO_IR 144")
    assert str(match.PatientName) != LATIN1  # Cyrillic decodes 0xFC differently


def test_worklist_matching(worklist):
    def accessions(**query):
        matches = find_worklist(query, worklist.destination, SETTINGS)
        return sorted(m.AccessionNumber for m in matches)

    assert accessions(Modality="MR") == ["A2"]
    assert accessions(ScheduledProcedureStepStartDate="20260101-20260131") == ["A1", "A2"]
    assert accessions(ScheduledStationAETitle="SCANNER1") == ["A1", "A3"]
    assert accessions(ScheduledStationAETitle="SCANNER1", Modality="CT") == ["A1"]
    assert accessions(PatientID="P2") == ["A2"]
    sps = find_worklist({"Modality": "OT"}, worklist.destination, SETTINGS)[0]
    step = sps.ScheduledProcedureStepSequence[0]
    assert (step.ScheduledStationAETitle, step.ScheduledProcedureStepStartDate) == (
        "SCANNER1",
        "20260201",
    )
