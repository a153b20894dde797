from datetime import date, datetime

import pytest

from napari_ezp2p.core.errors import ConversionError
from napari_ezp2p.core.metadata import (
    Metadata,
    charset_terms,
    check_metadata,
    default_patient_id,
    patient_age,
)


def test_default_patient_id_is_the_date_time_read_backwards():
    moment = datetime(2026, 11, 29, 15, 30, 12, 345678)
    assert default_patient_id(moment) == "87654321035192116202"
    first = default_patient_id(datetime(2026, 11, 29, 15, 30, 12))
    second = default_patient_id(datetime(2026, 11, 29, 15, 30, 13))
    assert first != second


def test_two_patients_entered_in_the_same_second_get_two_ids():
    first = default_patient_id(datetime(2026, 11, 29, 15, 30, 12, 1000))
    second = default_patient_id(datetime(2026, 11, 29, 15, 30, 12, 2000))
    assert first != second


@pytest.mark.parametrize(
    ("birth", "on", "age"),
    [
        (date(2026, 11, 20), date(2026, 11, 29), "009D"),
        (date(2026, 10, 1), date(2026, 11, 29), "008W"),
        (date(2025, 6, 15), date(2026, 11, 29), "017M"),
        (date(1984, 11, 30), date(2026, 11, 29), "041Y"),
        (date(1984, 11, 29), date(2026, 11, 29), "042Y"),
        (date(2024, 2, 29), date(2025, 2, 28), "011M"),
    ],
)
def test_patient_age_in_dicom_as_form(birth, on, age):
    assert patient_age(birth, on) == age


def test_birth_after_study_is_an_error():
    with pytest.raises(ConversionError, match="after the study date"):
        patient_age(date(2027, 1, 1), date(2026, 1, 1))


def test_iso_2022_multi_byte_sets_get_the_ascii_default_first():
    assert charset_terms("ISO 2022 IR 87") == ["", "ISO 2022 IR 87"]
    assert charset_terms("ISO_IR 192") == ["ISO_IR 192"]
    assert charset_terms("ISO 2022 IR 13\\ISO 2022 IR 87") == ["ISO 2022 IR 13", "ISO 2022 IR 87"]
    assert charset_terms("ISO 2022 IR 87\\ISO 2022 IR 159") == [
        "",
        "ISO 2022 IR 87",
        "ISO 2022 IR 159",
    ]
    with pytest.raises(ConversionError, match="unknown term 'KLINGON'"):
        charset_terms("KLINGON")


@pytest.mark.parametrize(
    ("charset", "name"),
    [
        ("ISO_IR 100", "Müller^Jürgen"),
        ("ISO_IR 192", "Yamada^Tarou=山田^太郎=やまだ^たろう"),
        ("ISO 2022 IR 87", "Yamada^Tarou=山田^太郎=やまだ^たろう"),
        ("ISO 2022 IR 149", "Hong^Gildong=洪^吉洞=홍^길동"),
        ("GB18030", "Wang^XiaoDong=王^小东="),
        ("ISO_IR 126", "Γιωργος^Νικος"),
    ],
)
def test_names_encodable_in_their_charset_pass(charset, name):
    check_metadata(Metadata(patient_name=name, charset=charset))


@pytest.mark.parametrize(
    ("charset", "name", "message"),
    [
        ("ISO_IR 100", "山田^太郎", "cannot be encoded in Specific Character Set ISO_IR 100"),
        ("ISO_IR 126", "Müller", "cannot be encoded"),
        ("ISO 2022 IR 87", "Müller^Jürgen", "character 'ü' cannot be encoded"),
        ("ISO_IR 6", "Müller^Jürgen", "character 'ü' cannot be encoded"),
        ("ISO 2022 IR 149", "สมชาย^ใจดี", "cannot be encoded"),
        # Python's shift_jis has Cyrillic, JIS X 0201 has not: pydicom would write "?"
        ("ISO_IR 13", "Жанна", "cannot be encoded in Specific Character Set ISO_IR 13"),
    ],
)
def test_unencodable_names_name_the_attribute(charset, name, message):
    with pytest.raises(ConversionError, match=message) as error:
        check_metadata(Metadata(patient_name=name, charset=charset))
    assert str(error.value).startswith("PatientName")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"patient_id": "x" * 65}, "PatientID .*exceeds the maximum length of 64"),
        ({"accession_number": "A" * 17}, "AccessionNumber .*maximum length of 16"),
        ({"study_description": "s" * 65}, "StudyDescription"),
        ({"patient_name": "a^b^c^d^e^f"}, "PatientName .*at most 5 components"),
        ({"patient_name": "a=b=c=d"}, "PatientName .*number of PN components .*exceeds"),
        ({"patient_name": "x" * 65}, "PatientName .*maximum allowed length of 64"),
        ({"birth_date": "1984-13-01"}, "PatientBirthDate '1984-13-01'"),
        ({"sex": "X"}, "PatientSex"),
        ({"modality": "ot lower"}, "Modality"),
        ({"modality": ""}, "Modality: empty, but it is required"),
        ({"modality": " "}, "Modality: empty, but it is required"),
        ({"study_instance_uid": "1.2.abc"}, "StudyInstanceUID"),
        ({"window": (100.0, 0.0)}, "WindowWidth"),
        ({"pixel_spacing": (0.0, 0.1)}, "NominalScannedPixelSpacing"),
    ],
)
def test_bad_values_are_errors_naming_the_attribute(fields, message):
    with pytest.raises(ConversionError, match=message):
        check_metadata(Metadata(**fields))
