import dataclasses
from datetime import datetime

import numpy as np
import pydicom
import pytest
from pydicom import dcmread

from napari_ezp2p.core.convert import convert_images, write_atomically
from napari_ezp2p.core.errors import ConversionError
from napari_ezp2p.core.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.sc import (
    MULTIFRAME_GRAYSCALE_BYTE,
    MULTIFRAME_GRAYSCALE_WORD,
    MULTIFRAME_TRUE_COLOUR,
    SECONDARY_CAPTURE,
    build_sc,
    complete_metadata,
)
from napari_ezp2p.core.transfer import TRANSFER_SYNTAXES, transfer_syntax
from tests.peers import dciodvfy_errors

NOW = datetime(2026, 11, 29, 15, 30, 12)
RNG = np.random.default_rng(7)


def _gradient(shape, maximum, dtype, colour=False):
    """A smooth image with some noise: compresses like a real one, exercises every bit."""
    rows, cols = shape[-2:]
    base = np.add.outer(np.linspace(0, 1, rows), np.linspace(0, 1, cols)) / 2
    grey = np.clip(base + RNG.normal(0, 0.03, shape), 0, 1) * maximum
    if colour:
        grey = np.stack([grey, grey[..., ::-1], np.flip(grey, -2)], axis=-1)
    return grey.round().astype(dtype)


IMAGES = {
    "rgb8": SourceImage.from_array(_gradient((48, 64), 255, np.uint8, colour=True)),
    "grey8": SourceImage.from_array(_gradient((48, 64), 255, np.uint8)),
    "film12": SourceImage.from_array(
        _gradient((48, 64), 4095, np.uint16), conversion_type="DF", pixel_spacing=(0.17, 0.17)
    ),
    "film16": SourceImage.from_array(
        _gradient((48, 64), 65535, np.uint16), conversion_type="DF", pixel_spacing=(0.17, 0.17)
    ),
    "pages8": SourceImage.from_array(_gradient((3, 48, 64), 255, np.uint8), conversion_type="SD"),
    "pages16": SourceImage.from_array(
        _gradient((3, 48, 64), 4095, np.uint16), conversion_type="DF", pixel_spacing=(0.1, 0.1)
    ),
    "clip": SourceImage.from_array(
        _gradient((2, 48, 64), 255, np.uint8, colour=True), rgb=True, conversion_type="DV"
    ),
}

EXPECTED_CLASS = {
    "rgb8": SECONDARY_CAPTURE,
    "grey8": SECONDARY_CAPTURE,
    "film12": SECONDARY_CAPTURE,
    "film16": SECONDARY_CAPTURE,
    "pages8": MULTIFRAME_GRAYSCALE_BYTE,
    "pages16": MULTIFRAME_GRAYSCALE_WORD,
    "clip": MULTIFRAME_TRUE_COLOUR,
}


def _meta(**fields):
    fields = {"patient_name": "DOE^JANE", "birth_date": "19840229", "sex": "F"} | fields
    return complete_metadata(Metadata(**fields), NOW)


def _cannot_carry(image: SourceImage, key: str) -> bool:
    if key == "jpeg-baseline":
        return image.bits_stored > 8
    if key == "jpeg-extended":
        return image.bits_stored > 12
    return False


@pytest.mark.parametrize("key", [ts.key for ts in TRANSFER_SYNTAXES])
@pytest.mark.parametrize("name", list(IMAGES))
def test_every_image_kind_in_every_transfer_syntax_passes_dciodvfy(tmp_path, name, key):
    image, ts = IMAGES[name], transfer_syntax(key)
    meta = _meta(window=None if image.is_colour else (2048.0, 4096.0))
    if _cannot_carry(image, key):
        with pytest.raises(ConversionError, match=ts.label.split(" (")[0]):
            build_sc(image, meta, ts, now=NOW)
        return
    path = write_atomically(build_sc(image, meta, ts, now=NOW), tmp_path / f"{name}.dcm")

    assert dciodvfy_errors(path) == []
    ds = dcmread(path)
    assert ds.SOPClassUID == EXPECTED_CLASS[name]
    assert ds.file_meta.TransferSyntaxUID == ts.uid
    assert int(ds.get("NumberOfFrames", 1)) == image.frames
    if ts.lossless:
        assert np.array_equal(ds.pixel_array.reshape(image.pixels.shape), image.pixels)
        assert "LossyImageCompression" not in ds or ds.LossyImageCompression == "00"
    else:
        assert ds.LossyImageCompression == "01"


def test_storage_attributes_of_the_specification(tmp_path):
    image = IMAGES["film12"]
    meta = _meta(
        accession_number="ACC42",
        referring_physician="HOUSE^GREGORY",
        study_description="Chest film",
        series_description="Digitized films",
        series_number=7,
        body_part="CHEST",
        institution_name="Hôpital Lariboisière",
        institution_address="2 Rue Ambroise Paré, Paris",
        station_name="FILMSCAN1",
        window=(1024.0, 2048.0),
        rescale=(1.0, -1024.0),
    )
    ds = build_sc(image, meta, transfer_syntax("explicit-le"), instance_number=3, now=NOW)
    path = write_atomically(ds, tmp_path / "film.dcm")
    assert dciodvfy_errors(path) == []
    ds = dcmread(path)

    assert ds.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert ds.file_meta.ImplementationVersionName == IMPLEMENTATION_VERSION_NAME
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
    assert ds.ConversionType == "DF"
    assert ds.PatientID == "00000021035192116202"
    assert ds.IssuerOfPatientID == "EZP2P-GENERATED"
    assert ds.PatientAge == "042Y"
    assert ds.StudyDate == ds.SeriesDate == ds.ContentDate == ds.AcquisitionDate == "20261129"
    assert ds.StudyTime == ds.ContentTime == "153012"
    assert ds.DateOfSecondaryCapture == "20261129" and ds.TimeOfSecondaryCapture == "153012"
    assert (ds.AccessionNumber, ds.StudyDescription, ds.SeriesDescription) == (
        "ACC42",
        "Chest film",
        "Digitized films",
    )
    assert ds.ReferringPhysicianName == "HOUSE^GREGORY"
    assert ds.InstitutionName == "Hôpital Lariboisière"
    assert ds.StationName == "FILMSCAN1"
    assert ds.BodyPartExamined == "CHEST" and "Laterality" not in ds
    assert (ds.SeriesNumber, ds.InstanceNumber, ds.StudyID) == (7, 3, "1")
    assert ds.Manufacturer == ds.SecondaryCaptureDeviceManufacturer == "napari-ezp2p"
    assert ds.SecondaryCaptureDeviceSoftwareVersions.startswith("napari-ezp2p ")
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (16, 12, 11)
    assert ds.PhotometricInterpretation == "MONOCHROME2"
    assert [float(v) for v in ds.NominalScannedPixelSpacing] == [0.17, 0.17]
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (1024.0, 2048.0)
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, -1024.0)
    equipment = ds.ContributingEquipmentSequence[0]
    purpose = equipment.PurposeOfReferenceCodeSequence[0]
    assert (purpose.CodeValue, purpose.CodingSchemeDesignator) == ("FILMD", "DCM")
    assert equipment.ContributionDateTime == "20261129153012"
    assert "OriginalAttributesSequence" not in ds


def test_a_batch_shares_study_and_series_and_numbers_its_instances():
    images = [IMAGES["grey8"], IMAGES["rgb8"], IMAGES["film12"]]
    objects = convert_images(images, Metadata(), transfer_syntax("explicit-le"), now=NOW)
    assert len({ds.StudyInstanceUID for ds in objects}) == 1
    assert len({ds.SeriesInstanceUID for ds in objects}) == 1
    assert len({ds.SOPInstanceUID for ds in objects}) == 3
    assert [ds.InstanceNumber for ds in objects] == [1, 2, 3]
    assert objects[0].StudyInstanceUID.startswith("2.25.")


def test_patients_entered_in_the_same_second_get_two_generated_ids():
    first = complete_metadata(Metadata(), datetime(2026, 11, 29, 15, 30, 12, 1000))
    second = complete_metadata(Metadata(), datetime(2026, 11, 29, 15, 30, 12, 2000))
    assert first.patient_id != second.patient_id
    assert first.issuer_of_patient_id == second.issuer_of_patient_id == "EZP2P-GENERATED"


def test_a_given_patient_id_is_not_marked_as_generated(tmp_path):
    ds = build_sc(IMAGES["grey8"], _meta(patient_id="P0001"), transfer_syntax("explicit-le"))
    assert ds.PatientID == "P0001"
    assert "IssuerOfPatientID" not in ds
    given = _meta(patient_id="P0001", issuer_of_patient_id="HOSPITAL")
    assert build_sc(IMAGES["grey8"], given, transfer_syntax("explicit-le")).IssuerOfPatientID == (
        "HOSPITAL"
    )


def test_attaching_to_an_existing_study_keeps_its_uids():
    meta = Metadata(study_instance_uid="1.2.3.4", series_instance_uid="1.2.3.4.5")
    (ds,) = convert_images([IMAGES["grey8"]], meta, transfer_syntax("explicit-le"), now=NOW)
    assert (ds.StudyInstanceUID, ds.SeriesInstanceUID) == ("1.2.3.4", "1.2.3.4.5")


def test_values_the_operator_changed_after_a_query_are_recorded_as_corrected(tmp_path):
    meta = _meta(
        patient_name="DOE^JANE^M",
        queried={"PatientName": "DOE^JANE", "PatientID": "00000021035192116202"},
    )
    ds = build_sc(IMAGES["grey8"], meta, transfer_syntax("explicit-le"), now=NOW)
    path = write_atomically(ds, tmp_path / "coerced.dcm")
    assert dciodvfy_errors(path) == []
    (item,) = dcmread(path).OriginalAttributesSequence
    assert item.ReasonForTheAttributeModification == "CORRECT"
    assert item.AttributeModificationDateTime == "20261129153012"
    (previous,) = item.ModifiedAttributesSequence
    assert previous.PatientName == "DOE^JANE"
    assert "PatientID" not in previous


@pytest.mark.parametrize(
    ("charset", "name", "raw"),
    [
        ("ISO 2022 IR 87", "Yamada^Tarou=山田^太郎=やまだ^たろう", b"\x1b$B;3ED\x1b(B"),
        ("ISO 2022 IR 149", "Hong^Gildong=洪^吉洞=홍^길동", b"\x1b$)C"),
        ("ISO_IR 100", "Müller^Jürgen", b"M\xfcller"),
        ("GB18030", "Wang^XiaoDong=王^小东", b"\xcd\xf5"),
        ("ISO_IR 126", "Γιωργος^Νικος", b"\xc3\xe9\xf9"),
    ],
)
def test_names_round_trip_in_their_character_set(tmp_path, charset, name, raw):
    ds = build_sc(
        IMAGES["grey8"], _meta(charset=charset, patient_name=name), transfer_syntax("explicit-le")
    )
    path = write_atomically(ds, tmp_path / "name.dcm")
    assert raw in path.read_bytes()
    assert dcmread(path).PatientName == name
    assert dciodvfy_errors(path) == []


def test_a_multiframe_film_scan_without_resolution_is_refused():
    image = dataclasses.replace(IMAGES["pages16"], pixel_spacing=None)
    with pytest.raises(ConversionError, match="NominalScannedPixelSpacing"):
        build_sc(image, _meta(), transfer_syntax("explicit-le"))


def test_a_clip_carries_its_frame_time(tmp_path):
    meta = _meta(frame_time_ms=40.0)
    ds = build_sc(IMAGES["clip"], meta, transfer_syntax("explicit-le"), now=NOW)
    path = write_atomically(ds, tmp_path / "clip.dcm")
    ds = dcmread(path)
    assert float(ds.FrameTime) == 40.0 and ds.CineRate == 25
    assert ds.FrameIncrementPointer == pydicom.tag.Tag("FrameTime")


def test_decimal_strings_keep_all_the_precision_16_characters_hold(tmp_path):
    meta = _meta(frame_time_ms=1000 / 30, window=(1000 / 3, 4096.0), rescale=(1 / 3, -1024.0))
    ds = build_sc(IMAGES["pages16"], meta, transfer_syntax("explicit-le"), now=NOW)
    ds = dcmread(write_atomically(ds, tmp_path / "pages.dcm"))
    for keyword, value in (("FrameTime", 1000 / 30), ("WindowCenter", 1000 / 3)):
        assert len(ds[keyword].value.original_string) <= 16
        assert float(ds[keyword].value) == pytest.approx(value, rel=1e-13)
    assert float(ds.RescaleSlope) == pytest.approx(1 / 3, rel=1e-13)


def test_window_on_a_colour_image_is_refused():
    with pytest.raises(ConversionError, match="grey images"):
        build_sc(IMAGES["rgb8"], _meta(window=(1.0, 2.0)), transfer_syntax("explicit-le"))


def test_equipment_purpose_codes_match_the_dicom_dictionary():
    from pydicom.sr.codedict import codes

    from napari_ezp2p.core.sc import _EQUIPMENT_PURPOSE

    for ours in _EQUIPMENT_PURPOSE.values():
        (theirs,) = [c for c in codes.DCM.dir() if getattr(codes.DCM, c).value == ours.value]
        code = getattr(codes.DCM, theirs)
        assert (code.scheme_designator, code.meaning) == (ours.scheme_designator, ours.meaning)
