"""The query keys of every face, the hierarchical series query against an Orthanc
that answers only hierarchical queries, and the cells of the answers."""

from __future__ import annotations

import pytest
from pydicom import Dataset

from napari_ezp2p.jobs.query import (
    ROWS,
    Filters,
    query_keys,
    query_pacs,
    query_series,
    series_row,
    study_row,
    worklist_row,
)
from napari_ezp2p.net.query import QueryError
from napari_ezp2p.net.store import store
from tests.net.helpers import SETTINGS, sc_objects
from tests.peers import worklist_item

FILTERS = Filters(
    patient_name=" DOE* ",
    patient_id="P1",
    accession="ACC-1",
    date="20260101-20260131",
    modality="OT",
    study_description="Chest",
    study_uid="1.2.3",
    series_uid="1.2.3.4",
    station_aet="SCANNER1",
)


def test_each_level_takes_its_own_keys_only_those_given():
    assert query_keys(FILTERS, "worklist") == {
        "PatientName": "DOE*",
        "PatientID": "P1",
        "AccessionNumber": "ACC-1",
        "ScheduledProcedureStepStartDate": "20260101-20260131",
        "Modality": "OT",
        "StudyInstanceUID": "1.2.3",
        "ScheduledStationAETitle": "SCANNER1",
    }
    assert query_keys(FILTERS, "study") == {
        "PatientName": "DOE*",
        "PatientID": "P1",
        "AccessionNumber": "ACC-1",
        "StudyDate": "20260101-20260131",
        "ModalitiesInStudy": "OT",
        "StudyDescription": "Chest",
        "StudyInstanceUID": "1.2.3",
    }
    assert query_keys(FILTERS, "series") == {"Modality": "OT", "SeriesInstanceUID": "1.2.3.4"}
    assert query_keys(Filters(patient_name="  "), "study") == {}
    with pytest.raises(QueryError, match="IMAGE"):
        query_keys(FILTERS, "IMAGE")


def test_a_series_uid_is_no_study_filter():
    with pytest.raises(QueryError, match="series level"):
        query_pacs(Filters(series_uid="1.2.3.4"), None, SETTINGS, "study")
    with pytest.raises(QueryError, match="patient"):
        query_pacs(Filters(), None, SETTINGS, "patient")


def _stored(server) -> dict[str, list[Dataset]]:
    """Two studies of DOE^JANE (one with two series) and one of ROE^RICH, by name."""
    first = sc_objects(1, patient_name="DOE^JANE", patient_id="P1", study_date="20260115")
    uid = str(first[0].StudyInstanceUID)
    second = sc_objects(1, patient_name="DOE^JANE", patient_id="P1", study_instance_uid=uid)
    other = sc_objects(1, patient_name="DOE^JANE", patient_id="P1", study_date="20250301")
    roe = sc_objects(1, patient_name="ROE^RICH", patient_id="P2", study_date="20260115")
    report = store([*first, *second, *other, *roe], server.destination, SETTINGS)
    assert report.ok, report.error
    return {"jane": [*first, *second, *other], "roe": roe}


def _series_uids(objects) -> set[str]:
    return {str(ds.SeriesInstanceUID) for ds in objects}


def test_series_are_queried_study_by_study(hierarchical_orthanc):
    server = hierarchical_orthanc()
    stored = _stored(server)
    jane = stored["jane"]

    found = query_series(Filters(patient_name="doe*"), server.destination, SETTINGS)
    assert {str(s.SeriesInstanceUID) for s in found} == _series_uids(jane)
    assert {s.QueryRetrieveLevel for s in found} == {"SERIES"}
    by_study = {str(s.SeriesInstanceUID): str(s.StudyInstanceUID) for s in found}
    assert by_study == {str(ds.SeriesInstanceUID): str(ds.StudyInstanceUID) for ds in jane}

    in_january = Filters(patient_id="P1", date="20260101-20260131")
    found = query_pacs(in_january, server.destination, SETTINGS, "series")
    assert {str(s.SeriesInstanceUID) for s in found} == _series_uids(jane[:2])

    one = Filters(
        study_uid=str(jane[0].StudyInstanceUID), series_uid=str(jane[1].SeriesInstanceUID)
    )
    (series,) = query_series(one, server.destination, SETTINGS)
    assert series.SeriesInstanceUID == jane[1].SeriesInstanceUID
    assert query_series(Filters(patient_name="nobody*"), server.destination, SETTINGS) == []
    assert query_series(Filters(modality="CT"), server.destination, SETTINGS) == []


def test_the_strict_orthanc_refuses_a_flat_series_query(hierarchical_orthanc):
    from napari_ezp2p.net.query import find_studies

    server = hierarchical_orthanc()
    with pytest.raises(QueryError, match="0xC000"):
        find_studies({"PatientName": "doe*"}, server.destination, SETTINGS, "SERIES")


def test_answers_become_table_cells():
    item = worklist_item("DOE^JOHN", "ACC-2", study_uid="1.2.3")
    assert worklist_row(item) == [
        "DOE^JOHN",
        "WL-1",
        "ACC-2",
        "20261129",
        "09:00:00",
        "Film import",
        "OT",
        "",
        "",
        "1.2.3",
    ]
    study = Dataset()
    study.PatientName = "DOE^JANE"
    study.ModalitiesInStudy = ["OT", "SC"]
    study.StudyInstanceUID = "1.2.3"
    assert study_row(study) == ["DOE^JANE", "", "", "", "", "", "OT\\SC", "", "", "1.2.3"]
    study.StudyDate, study.StudyTime = "20261202", "101530.25"
    study.StudyDescription = "Films"
    study.NumberOfStudyRelatedSeries, study.NumberOfStudyRelatedInstances = 2, 3
    assert study_row(study)[3:9] == ["20261202", "10:15:30", "Films", "OT\\SC", "2", "3"]
    series = Dataset()
    series.SeriesNumber = 7
    series.Modality = "OT"
    assert series_row(series) == ["", "7", "OT", "", ""]
    for row_of, columns in ROWS.values():
        assert len(row_of(Dataset())) == len(columns)
