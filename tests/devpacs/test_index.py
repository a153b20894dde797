"""Study Root FIND over what the local PACS holds (its index, rebuilt from the storage
folder), with pynetdicom and with dcmtk's findscu."""

from __future__ import annotations

import pytest
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import build_context
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from napari_ezp2p.core.convert import write_atomically
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.devpacs.server import run_server
from tests.devpacs.helpers import associate, find, findscu, sc_objects, study_query

STUDIES = [
    # (name, id, date, time, accession, modality, description)
    ("Doe^John", "P1", "20240115", "083000", "A1", "OT", "Chest films"),
    ("DOE^Jane", "P2", "20240620", "141500", "A2", "XC", "Hand photo"),
    ("Smith^Anna", "P3", "20250301", "120000", "A3", "OT", "Scanned report"),
]


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A server over a storage folder holding three studies (two series in the first),
    written as files before it starts, so every query also proves the index is rebuilt
    from the folder. Shared by the tests of this module that only query it."""
    storage = tmp_path_factory.mktemp("archive")
    uids = []
    for n, (name, pid, date, hour, acc, modality, description) in enumerate(STUDIES):
        meta = Metadata(
            patient_name=name,
            patient_id=pid,
            study_date=date,
            study_time=hour,
            accession_number=acc,
            modality=modality,
            study_description=description,
            series_description="first",
        )
        objects = sc_objects("explicit-le", meta, count=2, seed=10 * n)
        study_uid = objects[0].StudyInstanceUID
        series = [objects]
        if n == 0:
            second = Metadata(
                **{**meta.__dict__, "study_instance_uid": study_uid, "series_number": 2}
            )
            second.series_description = "second"
            second.modality = "XC"
            series.append(sc_objects("explicit-le", second, count=1, seed=99))
        for members in series:
            for ds in members:
                folder = storage / ds.StudyInstanceUID / ds.SeriesInstanceUID
                folder.mkdir(parents=True, exist_ok=True)
                write_atomically(ds, folder / f"{ds.SOPInstanceUID}.dcm")
        uids.append(study_uid)
    server = run_server(storage, 0, block=False)
    yield server, uids
    server.shutdown()


def _names(found) -> list[str]:
    return sorted(str(ds.PatientName) for ds in found)


def test_study_find_universal_returns_every_study_and_only_the_requested_keys(archive):
    server, uids = archive
    found = find(
        server, study_query("STUDY", PatientName="", StudyInstanceUID="", ModalitiesInStudy="")
    )
    assert _names(found) == ["DOE^Jane", "Doe^John", "Smith^Anna"]
    first = next(ds for ds in found if ds.StudyInstanceUID == uids[0])
    assert list(first.ModalitiesInStudy) == ["OT", "XC"]
    assert {elem.keyword for elem in first} == {
        "SpecificCharacterSet",
        "QueryRetrieveLevel",
        "PatientName",
        "StudyInstanceUID",
        "ModalitiesInStudy",
    }
    assert first.SpecificCharacterSet == "ISO_IR 192"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"PatientName": "Doe*"}, ["DOE^Jane", "Doe^John"]),  # wildcard, PN case-insensitive
        ({"PatientName": "doe^john"}, ["Doe^John"]),  # single value, PN case-insensitive
        ({"PatientName": "?mith^An?a"}, ["Smith^Anna"]),
        ({"PatientName": "D.e*"}, []),  # a dot is a dot, not a regex
        ({"PatientID": "p1"}, []),  # other VRs are case-sensitive
        ({"AccessionNumber": "A2"}, ["DOE^Jane"]),
        ({"StudyDescription": "*photo"}, ["DOE^Jane"]),
        ({"StudyDate": "20240101-20241231"}, ["DOE^Jane", "Doe^John"]),
        ({"StudyDate": "20250101-"}, ["Smith^Anna"]),
        ({"StudyDate": "-20240131"}, ["Doe^John"]),
        ({"StudyDate": "20240620"}, ["DOE^Jane"]),
        ({"StudyTime": "1200-"}, ["DOE^Jane", "Smith^Anna"]),
        ({"StudyTime": "-0830"}, ["Doe^John"]),
        ({"ModalitiesInStudy": "XC"}, ["DOE^Jane", "Doe^John"]),
        ({"StudyDate": "2024*", "PatientName": "*Jane"}, ["DOE^Jane"]),
    ],
)
def test_study_find_matching(archive, keys, expected):
    server, _ = archive
    assert _names(find(server, study_query("STUDY", **{"PatientName": "", **keys}))) == expected


def test_study_find_uid_list(archive):
    server, uids = archive
    found = find(server, study_query("STUDY", StudyInstanceUID=[uids[0], uids[2]], PatientName=""))
    assert sorted(ds.StudyInstanceUID for ds in found) == sorted([uids[0], uids[2]])


def test_series_find_within_a_study(archive):
    server, uids = archive
    query = study_query(
        "SERIES",
        StudyInstanceUID=uids[0],
        SeriesInstanceUID="",
        Modality="",
        SeriesNumber="",
        SeriesDescription="",
        NumberOfSeriesRelatedInstances="",
    )
    found = sorted(find(server, query), key=lambda ds: ds.SeriesNumber)
    assert [(ds.Modality, ds.SeriesNumber, ds.SeriesDescription) for ds in found] == [
        ("OT", 1, "first"),
        ("XC", 2, "second"),
    ]
    assert [ds.NumberOfSeriesRelatedInstances for ds in found] == [2, 1]
    only_xc = find(server, study_query("SERIES", StudyInstanceUID=uids[0], Modality="X?"))
    assert len(only_xc) == 1


def test_unsupported_level_is_refused(archive):
    server, _ = archive
    assoc = associate(
        server, [build_context(StudyRootQueryRetrieveInformationModelFind, ExplicitVRLittleEndian)]
    )
    (status, identifier), *_ = list(
        assoc.send_c_find(study_query("PATIENT"), StudyRootQueryRetrieveInformationModelFind)
    )
    assoc.release()
    assert status.Status == 0xA900
    assert identifier is None


def test_findscu_study_query(archive, tmp_path):
    server, uids = archive
    (answer,) = findscu(
        "-S",
        server,
        tmp_path / "findscu",
        "QueryRetrieveLevel=STUDY",
        "PatientName=Doe*",
        "StudyDate=20240101-20240131",
        "StudyInstanceUID",
    )
    assert answer.StudyInstanceUID == uids[0]
    assert str(answer.PatientName) == "Doe^John"


def test_image_level_find(archive):
    server, uids = archive
    query = study_query("IMAGE", StudyInstanceUID=uids[1], SOPInstanceUID="", InstanceNumber="")
    found = find(server, query)
    assert sorted(ds.InstanceNumber for ds in found) == [1, 2]


def test_the_study_docks_query_gets_the_series_and_instance_counts(archive):
    """What the Study dock's table shows to tell studies apart: ``ezp2p serve`` counts
    each study's series and instances from its index when our study C-FIND asks."""
    from napari_ezp2p.net.destination import Destination, NetworkSettings
    from napari_ezp2p.net.query import find_studies
    from tests.devpacs.helpers import port_of

    server, uids = archive
    dest = Destination("local", "EZP2P-PACS", "127.0.0.1", port_of(server))
    found = find_studies({}, dest, NetworkSettings(ae_title="TESTSCU"))
    counts = {
        str(ds.StudyInstanceUID): (
            ds.NumberOfStudyRelatedSeries,
            ds.NumberOfStudyRelatedInstances,
        )
        for ds in found
    }
    assert counts == {uids[0]: (2, 3), uids[1]: (1, 2), uids[2]: (1, 2)}
