"""Objects to store in the local PACS, and clients that talk to it on 127.0.0.1."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

import numpy as np
from pydicom import Dataset, dcmread
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, build_context
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from napari_ezp2p.core.convert import convert_images
from napari_ezp2p.core.image import SourceImage
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.transfer import transfer_syntax
from tests.peers import require_tool

NOW = datetime(2026, 11, 29, 10, 0, 0)


def image(seed: int = 0, shape=(32, 40)) -> SourceImage:
    rng = np.random.default_rng(seed)
    return SourceImage.from_array(rng.integers(0, 4096, shape, dtype=np.uint16))


def sc_objects(key: str, meta: Metadata, count: int = 1, seed: int = 0) -> list[Dataset]:
    images = [image(seed + n) for n in range(count)]
    return convert_images(images, meta, transfer_syntax(key), now=NOW)


def stored_files(storage: Path) -> list[Path]:
    return sorted(storage.glob("*/*/*.dcm"))


def port_of(server) -> int:
    return server.server_address[1]


def associate(server, contexts):
    ae = AE(ae_title="TESTSCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    assoc = ae.associate("127.0.0.1", port_of(server), contexts=contexts, ae_title="EZP2P-PACS")
    assert assoc.is_established
    return assoc


def find(server, query: Dataset, model=StudyRootQueryRetrieveInformationModelFind):
    assoc = associate(server, [build_context(model, ExplicitVRLittleEndian)])
    try:
        results = list(assoc.send_c_find(query, model))
    finally:
        assoc.release()
    statuses = [status.Status for status, _ in results]
    assert statuses[-1] == 0x0000, [hex(s) for s in statuses]
    assert all(s == 0xFF00 for s in statuses[:-1])
    return [identifier for _, identifier in results[:-1]]


def study_query(level: str, **keys) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def findscu(model: str, server, folder, *keys: str) -> list:
    """dcmtk findscu against ``server`` with ``-k`` keys; its answers, as datasets."""
    folder.mkdir()
    args = [require_tool("findscu"), model, "-aec", "EZP2P-PACS", "-X"]
    for key in keys:
        args += ["-k", key]
    args += ["127.0.0.1", str(port_of(server))]
    result = subprocess.run(args, capture_output=True, text=True, timeout=30, cwd=folder)
    assert result.returncode == 0, result.stderr
    return [dcmread(path) for path in sorted(folder.glob("rsp*.dcm"))]
