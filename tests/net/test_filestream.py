"""Files sent as they are: what the standard asks of the data set on the wire."""

from __future__ import annotations

import io
import urllib.request
from pathlib import Path

import numpy as np
import pydicom
import pynetdicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import DeflatedExplicitVRLittleEndian
from pynetdicom.dsutils import split_dataset

from napari_ezp2p.net.destination import Destination
from napari_ezp2p.net.store import SUCCESS, store
from tests.conftest import Peer, free_port
from tests.net.helpers import SETTINGS
from tests.peers import require_tool

#: Deflated files nobody here wrote, whose deflate stream has an odd length (no pad byte).
ODD_DEFLATED = [
    Path(get_testdata_file("image_dfl.dcm")),
    Path(pynetdicom.__file__).parent / "tests/dicom_files/SCImageStorage_Deflated.dcm",
]


def _dataset_part(path: Path) -> bytes:
    _, offset = split_dataset(path)
    return path.read_bytes()[offset:]


def _assert_decodes_as(received: pydicom.Dataset, path: Path) -> None:
    source = pydicom.dcmread(path)
    assert received.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    assert received == source  # every element of the data set (the meta aside)
    assert np.array_equal(received.pixel_array, source.pixel_array)


@pytest.fixture
def deflating_storescp(tmp_path):
    """storescp taking every storage class, deflated syntax included, bit-preserving."""
    received = tmp_path / "received"
    received.mkdir()
    port = free_port()
    args = [require_tool("storescp"), "+xd", "+B", "--output-directory", str(received)]
    peer = Peer("storescp", [*args, "--disable-host-lookup", str(port)], tmp_path)
    peer.wait_ready(port, "STORESCP")
    yield Destination("storescp", "STORESCP", "127.0.0.1", port), received
    peer.stop()


@pytest.mark.parametrize("path", ODD_DEFLATED, ids=lambda path: path.name)
def test_an_odd_deflate_stream_goes_with_its_pad_byte_to_storescp(deflating_storescp, path):
    assert len(_dataset_part(path)) % 2 == 1
    dest, received = deflating_storescp
    report = store([path], dest, SETTINGS)
    assert report.ok, report.error
    assert report.outcomes[0].transfer_syntax == DeflatedExplicitVRLittleEndian
    (stored,) = received.iterdir()
    assert _dataset_part(stored) == _dataset_part(path) + b"\x00"  # PS3.5 A.5
    _assert_decodes_as(pydicom.dcmread(stored), path)


@pytest.mark.parametrize("path", ODD_DEFLATED, ids=lambda path: path.name)
def test_an_odd_deflate_stream_arrives_at_orthanc(orthanc, path):
    server = orthanc()
    report = store([path], server.destination, SETTINGS)
    assert [o.category for o in report.outcomes] == [SUCCESS], report.error
    (instance,) = server.rest("/instances")
    with urllib.request.urlopen(f"{server.http}/instances/{instance}/file") as response:
        _assert_decodes_as(pydicom.dcmread(io.BytesIO(response.read())), path)


def test_the_bytes_counted_end_at_the_files_data_set_with_its_pad_still_sent(
    deflating_storescp,
):
    path = ODD_DEFLATED[0]
    dest, received = deflating_storescp
    counts: list[tuple[str, int, int]] = []
    report = store([path], dest, SETTINGS, on_bytes=lambda *count: counts.append(count))
    assert report.ok, report.error
    size = len(_dataset_part(path))
    uid = pydicom.dcmread(path).SOPInstanceUID
    assert counts[0] == (uid, 0, size) and counts[-1] == (uid, size, size)
    (stored,) = received.iterdir()
    assert _dataset_part(stored) == _dataset_part(path) + b"\x00"
