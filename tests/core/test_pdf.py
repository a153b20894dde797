import io
from datetime import datetime

import pydicom
import pytest
from PIL import Image, ImageDraw

from napari_ezp2p.core.convert import write_atomically
from napari_ezp2p.core.errors import ConversionError
from napari_ezp2p.core.identity import IMPLEMENTATION_CLASS_UID
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.pdf import (
    ENCAPSULATED_PDF,
    build_encapsulated_pdf,
    encapsulated_pdf_bytes,
)
from tests.peers import dciodvfy_errors

NOW = datetime(2026, 11, 29, 15, 30, 12)
META = Metadata(
    patient_name="山田^太郎=ヤマダ^タロウ",
    patient_id="JP-0042",
    birth_date="19800215",
    sex="M",
    accession_number="ACC7",
    study_description="紹介状",
    institution_name="東京病院",
    charset="ISO_IR 192",
)


def _pdf(extra: bytes = b"") -> bytes:
    """A one-page PDF made by Pillow; ``extra`` bytes after %%EOF change its parity."""
    page = Image.new("RGB", (200, 150), "white")
    ImageDraw.Draw(page).rectangle((20, 20, 120, 60), fill="black")
    buffer = io.BytesIO()
    page.save(buffer, format="PDF", resolution=72)
    return buffer.getvalue() + extra


@pytest.mark.parametrize("extra", [b"", b"\n"], ids=["as-made", "other-parity"])
def test_encapsulated_pdf_is_valid_and_holds_the_pdf(tmp_path, extra):
    pdf = _pdf(extra)
    ds = build_encapsulated_pdf(pdf, META, document_title="Referral letter", now=NOW)
    path = write_atomically(ds, tmp_path / "doc.dcm")

    assert dciodvfy_errors(path) == []
    back = pydicom.dcmread(path)
    assert back.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert back.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert back.file_meta.MediaStorageSOPClassUID == ENCAPSULATED_PDF
    assert back.SOPClassUID == ENCAPSULATED_PDF
    assert back.file_meta.MediaStorageSOPInstanceUID == back.SOPInstanceUID
    raw = bytes(back.EncapsulatedDocument)
    assert len(raw) % 2 == 0
    assert back.EncapsulatedDocumentLength == len(pdf)
    assert raw[: len(pdf)] == pdf
    assert raw[len(pdf) :] == b"\0" * (len(pdf) % 2)
    assert encapsulated_pdf_bytes(back) == pdf
    assert back.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert back.DocumentTitle == "Referral letter"
    assert back.ConceptNameCodeSequence == []
    assert back.Modality == "DOC"
    assert back.ConversionType == "SD"
    assert back.BurnedInAnnotation == "YES"  # a document is text about the patient
    assert back.InstanceNumber == 1
    assert back.AcquisitionDateTime == "20261129153012"
    assert (back.ContentDate, back.ContentTime) == ("20261129", "153012")


def test_patient_and_study_come_from_the_metadata(tmp_path):
    study_uid = "1.2.826.0.1.3680043.8.498.1"
    existing = {"study_instance_uid": study_uid, "study_id": "S9", "study_date": "20261129"}
    meta = Metadata(**{**META.__dict__, **existing})
    ds = build_encapsulated_pdf(_pdf(), meta, now=NOW, instance_number=4)
    back = pydicom.dcmread(write_atomically(ds, tmp_path / "doc.dcm"))

    assert back.SpecificCharacterSet == "ISO_IR 192"
    assert str(back.PatientName) == "山田^太郎=ヤマダ^タロウ"
    assert back.PatientName.ideographic == "ヤマダ^タロウ"
    assert back.PatientID == "JP-0042"
    assert back.PatientBirthDate == "19800215"
    assert back.PatientSex == "M"
    assert back.PatientAge == "046Y"
    assert back.AccessionNumber == "ACC7"
    assert back.StudyDescription == "紹介状"
    assert back.InstitutionName == "東京病院"
    assert back.StudyInstanceUID == study_uid
    assert back.StudyID == "S9"
    assert back.InstanceNumber == 4
    assert back.SeriesInstanceUID  # a new series when none is given
    assert back.ContributingEquipmentSequence[0].PurposeOfReferenceCodeSequence[0].CodeValue == (
        "DOCD"
    )
    assert dciodvfy_errors(tmp_path / "doc.dcm") == []


def test_completed_metadata_is_kept_and_values_checked():
    ds = build_encapsulated_pdf(_pdf(), Metadata(), now=NOW)
    assert ds.PatientID == "00000021035192116202"  # the inverted date-time default
    assert ds.IssuerOfPatientID == "EZP2P-GENERATED"
    assert ds.StudyDate == "20261129"
    with pytest.raises(ConversionError, match="DocumentTitle"):
        build_encapsulated_pdf(
            _pdf(), Metadata(charset="ISO_IR 100"), document_title="紹介状", now=NOW
        )
    with pytest.raises(ConversionError, match="PatientSex"):
        build_encapsulated_pdf(_pdf(), Metadata(sex="X"), now=NOW)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "not a PDF"),
        (b"GIF89a%PDF-1.4 %%EOF", "not a PDF"),
        ("cut", "truncated"),
    ],
    ids=["empty", "png", "header-not-first", "truncated"],
)
def test_bad_input_is_a_conversion_error(data, message):
    if data == "cut":
        whole = _pdf()
        data = whole[: len(whole) // 2]
        assert data.startswith(b"%PDF-")
    with pytest.raises(ConversionError, match=message):
        build_encapsulated_pdf(data, Metadata(), now=NOW)
