"""The encoding pool: objects made in worker processes, in order, bit-identical, errors
per object, frames told back; the process-wide start method left alone."""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections import namedtuple
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import tifffile
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset

from napari_ezp2p.core.errors import ConversionError
from napari_ezp2p.core.imageio import read_image
from napari_ezp2p.core.metadata import Metadata
from napari_ezp2p.core.pixels import set_pixel_data
from napari_ezp2p.core.transfer import transfer_syntax
from napari_ezp2p.jobs import pool
from napari_ezp2p.jobs.convert import convert_inputs
from napari_ezp2p.jobs.inputs import SyntaxChoice
from napari_ezp2p.jobs.pool import EncodingPool, InProcess, in_order, pool_for


def _pid(on_frame=None) -> tuple[int, str]:
    return os.getpid(), multiprocessing.get_start_method()


def _frames(count: int, on_frame=None) -> int:
    for done in range(1, count + 1):
        on_frame(done, count)
    return count


def _refuse(reason: str, on_frame=None) -> None:
    raise ConversionError(reason)


def test_calls_run_in_other_processes_and_tell_their_frames_and_errors():
    start_method = multiprocessing.get_start_method(allow_none=True)
    seen: list[tuple[int, int]] = []
    with EncodingPool(2) as workers:
        pids, methods = zip(*(workers.submit(_pid).result() for _ in range(4)), strict=True)
        assert workers.submit(_frames, 3, on_frame=lambda *told: seen.append(told)).result() == 3
        refused = workers.submit(_refuse, "no codec for that")
        with pytest.raises(ConversionError, match="no codec for that"):
            refused.result()
    assert os.getpid() not in pids and 1 <= len(set(pids)) <= 2
    assert set(methods) == {"spawn"}
    assert seen == [(1, 3), (2, 3), (3, 3)]  # relayed before the pool closed
    # Unchanged, or (CPython's spawn reads it) resolved to the platform's default.
    default = multiprocessing.get_all_start_methods()[0]
    assert multiprocessing.get_start_method(allow_none=True) in {start_method, default}


def test_in_order_keeps_the_workers_busy_and_the_order():
    submitted = []
    with EncodingPool(2) as workers:

        def call(count: int):
            submitted.append(count)
            return count, workers.submit(_frames, count, on_frame=lambda *_: None)

        results = []
        for count, future in in_order(workers, (lambda c=c: call(c) for c in range(1, 7))):
            results.append((count, future.result()))
            assert len(submitted) == min(6, count + 2)  # two ahead, no more
    assert results == [(c, c) for c in range(1, 7)]


def test_only_a_compressed_syntax_gets_a_pool():
    assert isinstance(pool_for(False, 2), InProcess)
    assert SyntaxChoice.of("jpeg-ls").compresses and SyntaxChoice.of("rle").compresses
    assert not SyntaxChoice.of("explicit-le").compresses and not SyntaxChoice().compresses


def test_workers_are_as_many_as_cores_and_memory_allow(monkeypatch):
    memory = namedtuple("memory", "available")
    monkeypatch.setattr(pool, "cores", lambda: 8)
    monkeypatch.setattr(pool.psutil, "virtual_memory", lambda: memory(3 * pool.WORKER_MEMORY))
    assert pool.worker_count() == 3
    monkeypatch.setattr(pool.psutil, "virtual_memory", lambda: memory(pool.WORKER_MEMORY // 2))
    assert pool.worker_count() == 1


@pytest.mark.parametrize("key", ["jpeg-ls", "rle"])
def test_a_batch_is_converted_in_order_bit_identical_one_bad_file_alone(tmp_path, key):
    rng = np.random.default_rng(5)
    sources = []
    for name in ("a", "b", "c", "d"):
        path = tmp_path / f"{name}.tif"
        if name == "b":
            path.write_bytes(b"II*\0 not a TIFF")
        else:
            tifffile.imwrite(path, rng.integers(0, 4096, (300, 200), dtype=np.uint16))
        sources.append(path)
    now = datetime(2026, 1, 2, 3, 4, 5)
    out = list(
        convert_inputs(
            sources, tmp_path / "out", Metadata(), SyntaxChoice.of(key), now=now, workers=2
        )
    )
    assert [c.source for c in out] == sources
    assert out[1].written is None and out[1].error
    written = [dcmread(c.written) for c in out if c.written]
    assert [c.written.name for c in out if c.written] == ["a.dcm", "c.dcm", "d.dcm"]
    assert [int(ds.InstanceNumber) for ds in written] == [1, 3, 4]
    assert len({ds.SOPInstanceUID for ds in written}) == 3
    assert len({ds.SeriesInstanceUID for ds in written}) == 1
    for ds, path in zip(written, [sources[0], *sources[2:]], strict=True):
        here = Dataset()
        here.file_meta = FileMetaDataset()
        set_pixel_data(here, read_image(path), transfer_syntax(key))
        assert ds.PixelData == here.PixelData  # made in a worker, the same bytes


def test_an_image_and_its_object_go_through_files_deleted_after(tmp_path, monkeypatch):
    from napari_ezp2p.core.image import SourceImage
    from napari_ezp2p.core.sc import complete_metadata
    from napari_ezp2p.jobs.inputs import object_for_image

    returned = Path(tempfile.gettempdir())  # where the worker leaves the object's bytes
    before = set(returned.glob("ezp2p-object-*"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    rng = np.random.default_rng(8)
    image = SourceImage(rng.integers(0, 4096, (1, 2000, 1600, 1), dtype=np.uint16), 12)
    assert image.nbytes >= pool.SPILL_ABOVE
    now = datetime(2026, 1, 2, 3, 4, 5)
    with EncodingPool(1) as workers:
        future = workers.submit(
            object_for_image,
            image,
            complete_metadata(Metadata(), now),
            SyntaxChoice.of("rle"),
            1,
            now,
        )
        assert list(tmp_path.glob("ezp2p-pixels-*"))  # the pixels wait in a file
        made = future.result()
    assert not list(tmp_path.glob("ezp2p-pixels-*"))
    assert set(returned.glob("ezp2p-object-*")) <= before  # read back, then deleted
    here = Dataset()
    here.file_meta = FileMetaDataset()
    set_pixel_data(here, image, transfer_syntax("rle"))
    assert len(made.PixelData) >= pool.SPILL_ABOVE  # so it came back through a file
    assert made.PixelData == here.PixelData
