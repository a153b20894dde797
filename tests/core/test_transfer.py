import pytest
from pydicom import uid

from napari_ezp2p.core.errors import ConversionError
from napari_ezp2p.core.transfer import TRANSFER_SYNTAXES, transfer_syntax


def test_the_twelve_in_order():
    assert [ts.key for ts in TRANSFER_SYNTAXES] == [
        "implicit-le",
        "explicit-le",
        "explicit-be",
        "jpeg-baseline",
        "jpeg-extended",
        "jpeg-lossless",
        "jpeg-lossless-sv1",
        "jpeg-ls",
        "jpeg-ls-near",
        "rle",
        "j2k-lossless",
        "j2k",
    ]
    assert [ts.uid for ts in TRANSFER_SYNTAXES] == [
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2.2",
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.57",
        "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.80",
        "1.2.840.10008.1.2.4.81",
        "1.2.840.10008.1.2.5",
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.4.91",
    ]


@pytest.mark.parametrize("ts", TRANSFER_SYNTAXES, ids=lambda ts: ts.key)
def test_flags_agree_with_pydicom(ts):
    assert isinstance(ts.uid, uid.UID)
    assert ts.encapsulated == ts.uid.is_encapsulated
    assert ts.lossless == (ts.key not in ("jpeg-baseline", "jpeg-extended", "jpeg-ls-near", "j2k"))
    assert ts.label


@pytest.mark.parametrize("ts", TRANSFER_SYNTAXES, ids=lambda ts: ts.key)
def test_found_by_key_and_by_uid(ts):
    assert transfer_syntax(ts.key) is ts
    assert transfer_syntax(str(ts.uid)) is ts
    assert transfer_syntax(ts.uid) is ts


def test_unknown_names_the_keys():
    with pytest.raises(ConversionError, match="'jpeg-xl'.*implicit-le.*j2k-lossless"):
        transfer_syntax("jpeg-xl")
