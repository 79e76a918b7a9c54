"""Aligned crops kept in a nameless temporary file: byte-identical, private, gone with the store,
and an analysis that holds no crop pixels in memory however many photos it has."""

from __future__ import annotations

import copy
import gc
import os
import pickle
import stat
import tracemalloc
import weakref
from pathlib import Path

import numpy as np
import pytest

from bench.albums import selfie_album
from pipeline import scan as scan_ops
from pipeline.analysis import analyze
from pipeline.crop_store import AlignedCrop, CropStore
from pipeline.photos import PhotoSource
from pipeline.scan import ScanSettings
from pipeline.scan_cache import DiskScanCache


@pytest.fixture(scope="module")
def crops(portrait_faces) -> list[tuple[np.ndarray, np.ndarray]]:
    return [portrait_faces.aligned(name, 512) for name in ("astronaut", "hanks")]


def _files_in(folder: Path) -> list[int]:
    """This process' open descriptors of files in `folder` (named or not)."""
    out = []
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the listing's own descriptor, closed by now
            continue
        if target.startswith(f"{folder}/"):
            out.append(int(name))
    return out


def test_crops_read_back_byte_identical_as_fresh_arrays(crops, tmp_path: Path) -> None:
    store = CropStore(str(tmp_path))
    handles = [store.put(image, lm) for image, lm in crops]
    assert store.count == 2 and store.nbytes == sum(c[0].nbytes for c in crops)
    for (image, lm), h in zip(crops, handles):
        assert h.stored and h.side == 512 and h.shape == image.shape
        got = h.image
        assert got.dtype == np.uint8 and np.array_equal(got, image)
        assert h.landmarks is lm
        got[:] = 0  # a caller's copy: the stored pixels do not change
        assert np.array_equal(h.image, image)
        assert h.image is not h.image


def test_the_file_has_no_name_is_private_and_closes_with_the_last_handle(
    crops, tmp_path: Path
) -> None:
    store = CropStore(str(tmp_path))
    handle = store.put(*crops[0])
    assert list(tmp_path.iterdir()) == [], "the crop file is visible in the folder"
    (fd,) = _files_in(tmp_path)
    assert stat.S_IMODE(os.fstat(fd).st_mode) & 0o077 == 0, "others may read the crops"
    alive = weakref.ref(store)
    del store
    gc.collect()
    assert alive() is not None, "a handle keeps its store"
    assert np.array_equal(handle.image, crops[0][0])
    del handle
    gc.collect()
    assert alive() is None and _files_in(tmp_path) == []


def test_pickled_crops_carry_their_pixels(crops) -> None:
    store = CropStore()
    handle = store.put(*crops[1])
    moved = pickle.loads(pickle.dumps(handle))
    assert not moved.stored and np.array_equal(moved.image, crops[1][0])
    np.testing.assert_array_equal(moved.landmarks, crops[1][1])
    assert pickle.loads(pickle.dumps(store)).count == 0  # a store's copy starts empty
    assert copy.deepcopy(handle) is handle  # copies in this process share the handle


def test_a_forked_child_reads_the_crops_and_keeps_its_own_in_memory(crops) -> None:
    store = CropStore()
    handle = store.put(*crops[0])
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running the parent's cleanup
        ok = np.array_equal(handle.image, crops[0][0])
        mine = store.put(*crops[1])
        ok = ok and not mine.stored and np.array_equal(mine.image, crops[1][0])
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.close(read)
    os.waitpid(pid, 0)
    assert store.count == 1  # the child wrote nothing into the parent's file
    assert np.array_equal(handle.image, crops[0][0])


def test_a_store_that_cannot_write_keeps_crops_in_memory(crops, tmp_path: Path, caplog) -> None:
    store = CropStore(str(tmp_path / "missing"))
    handle = store.put(*crops[0])
    assert not handle.stored and np.array_equal(handle.image, crops[0][0])
    assert "keeping face crops in memory" in caplog.text
    assert isinstance(AlignedCrop(*crops[1]).image, np.ndarray)


@pytest.fixture(scope="module")
def daily(tmp_path_factory) -> tuple[Path, Path]:
    """24 dated selfies and a scan cache that holds them all."""
    root = tmp_path_factory.mktemp("daily")
    selfie_album(root / "album", 24)
    analyze(root / "album", cache=DiskScanCache(root / "cache", ScanSettings()))
    return root / "album", root / "cache"


@pytest.mark.slow
def test_analysis_crops_equal_the_scans_and_live_in_the_store(daily) -> None:
    album, cache_dir = daily
    analysis = analyze(album, cache=DiskScanCache(cache_dir, ScanSettings()))
    assert len(analysis.usable) == 24
    assert all(p.crop.stored for p in analysis.usable)
    for p in analysis.usable[:3]:
        scanned = scan_ops.scan_photo(PhotoSource(p.file, album / p.file), ScanSettings())
        assert np.array_equal(p.aligned, scanned.crop)
        np.testing.assert_array_equal(p.aligned_landmarks, scanned.crop_landmarks)


@pytest.mark.slow
def test_analysis_memory_does_not_grow_with_its_crops(daily) -> None:
    """Read from the cache, a 24-photo analysis holds under 100 kB a photo (a crop is 768 kB)."""
    album, cache_dir = daily
    cache = DiskScanCache(cache_dir, ScanSettings())
    analyze(album, cache=cache)  # imports and models, outside the measure
    tracemalloc.start()
    try:
        analysis = analyze(album, cache=cache)
        gc.collect()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(analysis.usable) == 24
    crop_bytes = analysis.usable[0].crop.side ** 2 * 3
    assert held < 24 * 100_000, f"{held / 1e6:.1f} MB held"
    assert peak < 8 * crop_bytes + held, f"{peak / 1e6:.1f} MB at the peak"
