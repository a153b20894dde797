"""Helpers for tests that check our output with the real DICOM tools (dcmtk, dicom3tools, GDCM).

A missing tool fails the test: these checks are the point, they are never skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import uid

# dcmtk's decompressor for each encapsulated transfer syntax it can decode.
_DCMTK_DECOMPRESSORS = {
    uid.JPEGBaseline8Bit: "dcmdjpeg",
    uid.JPEGExtended12Bit: "dcmdjpeg",
    uid.JPEGLossless: "dcmdjpeg",
    uid.JPEGLosslessSV1: "dcmdjpeg",
    uid.JPEGLSLossless: "dcmdjpls",
    uid.JPEGLSNearLossless: "dcmdjpls",
    uid.RLELossless: "dcmdrle",
}


def require_tool(name: str) -> str:
    """The path of the system's executable ``name`` (dcmtk, Orthanc, dicom3tools, GDCM);
    fails the test when it is not installed.

    Python virtual environments are left out of the search: pynetdicom installs apps
    there named like dcmtk's (``storescp``, ``findscu``…) that take other options.
    """
    folders = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    folders = [p for p in folders if not (Path(p).parent / "pyvenv.cfg").exists()]
    folders.append("/usr/sbin")
    path = shutil.which(name, path=os.pathsep.join(folders))
    if path is None:
        pytest.fail(f"{name} is not installed: it is needed to check our output")
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    tool = require_tool(str(args[0]))
    result = subprocess.run([tool, *map(str, args[1:])], capture_output=True, text=True)
    if result.returncode:
        pytest.fail(f"{args[0]} failed ({result.returncode}): {result.stderr}{result.stdout}")
    return result


#: dciodvfy's warning for a Lossy Image Compression Method the transfer syntax contradicts.
LOSSY_METHOD_WARNING = "method inconsistent with Transfer Syntax"


def _dciodvfy_lines(path: str | Path) -> list[str]:
    """dciodvfy's report on ``path``, line by line."""
    tool = require_tool("dciodvfy")
    # errors="replace": dciodvfy quotes a value's bytes, in its character set
    result = subprocess.run([tool, str(path)], capture_output=True, text=True, errors="replace")
    return (result.stdout + result.stderr).splitlines()


def dciodvfy_errors(path: str | Path) -> list[str]:
    """The lines of dciodvfy's report that are errors (warnings left out)."""
    return [line for line in _dciodvfy_lines(path) if line.startswith("Error")]


def dciodvfy_findings(path: str | Path) -> list[str]:
    """The lines of dciodvfy's report that are errors or lossy-method warnings."""
    lines = _dciodvfy_lines(path)
    return [line for line in lines if line.startswith("Error") or LOSSY_METHOD_WARNING in line]


def transfer_syntax_of(path: str | Path) -> uid.UID:
    """The Transfer Syntax UID in the file meta information of ``path``."""
    return pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID


def dcmtk_decompressed(path: str | Path, out_dir: str | Path) -> Path:
    """``path`` decompressed to explicit VR little endian by dcmtk; the output file's path.

    dcmtk 3.6.7 has no JPEG 2000 codec: use :func:`gdcm_decompressed` for those.
    """
    out = Path(out_dir) / f"{Path(path).stem}.dcmtk.dcm"
    ts = transfer_syntax_of(path)
    if ts.is_encapsulated:
        if ts not in _DCMTK_DECOMPRESSORS:
            pytest.fail(f"dcmtk 3.6.7 cannot decompress {ts.name}")
        _run(_DCMTK_DECOMPRESSORS[ts], path, out)
    else:
        _run("dcmconv", "+te", path, out)
    return out


def gdcm_decompressed(path: str | Path, out_dir: str | Path) -> Path:
    """``path`` decompressed by GDCM (``gdcmconv --raw``); the output file's path."""
    out = Path(out_dir) / f"{Path(path).stem}.gdcm.dcm"
    _run("gdcmconv", "--raw", path, out)
    return out


def pixels_of(path: str | Path) -> np.ndarray:
    """The pixel data of ``path`` as pydicom decodes it."""
    return pydicom.dcmread(path).pixel_array


def worklist_item(
    name: str,
    accession: str,
    *,
    charset: str = "\\ISO 2022 IR 87",
    study_uid: str = "1.2.826.0.1.3680043.8.498.1",
    station: str = "EZP2P",
) -> pydicom.Dataset:
    """A scheduled procedure step as wlmscpfs serves it (it ignores items missing the
    Requested and Scheduled Procedure Step IDs): patient WL-1, modality OT, 2026-11-29."""
    item = pydicom.Dataset()
    item.SpecificCharacterSet = charset
    item.PatientName = name
    item.PatientID = "WL-1"
    item.PatientBirthDate = "19700101"
    item.PatientSex = "M"
    item.AccessionNumber = accession
    item.StudyInstanceUID = study_uid
    item.RequestedProcedureDescription = "Film import"
    item.ReferringPhysicianName = ""
    item.RequestedProcedureID = "RP1"
    step = pydicom.Dataset()
    step.ScheduledProcedureStepID = "SPS1"
    step.ScheduledProcedureStepDescription = "scan films"
    step.Modality = "OT"
    step.ScheduledStationAETitle = station
    step.ScheduledProcedureStepStartDate = "20261129"
    step.ScheduledProcedureStepStartTime = "090000"
    item.ScheduledProcedureStepSequence = [step]
    return item
