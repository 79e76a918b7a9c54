"""The latent cache's files in the temporary folder: shared between processes (a forked
ZeroGPU worker and the main process), private, bounded, expiring, robust to damage."""

from __future__ import annotations

import multiprocessing
import os
import stat
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline.methods.stylegan.latents import (
    FOLDER_NAME,
    DiskLatents,
    LatentCache,
    crop_digest,
    default_folder,
)


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh system temp folder for this test (this process and the ones it forks)."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def code(seed: int, rows: int = 18) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, 512)).astype(np.float32)


def key(n: int) -> tuple[str, str, str]:
    return (f"crop:{crop_digest(np.full((8, 8, 3), n, np.uint8))}", "e4e", "sha256:abc")


def test_codes_live_only_in_a_private_folder_of_the_temp_folder(temp_root: Path) -> None:
    cache = LatentCache()
    cache.put(key(1), code(1))
    folder = temp_root / FOLDER_NAME
    assert default_folder() == folder
    files = list(folder.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npy"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert sorted(p.name for p in temp_root.iterdir()) == [FOLDER_NAME]  # nothing else written
    fresh = LatentCache()  # another process: nothing in memory, the file answers
    np.testing.assert_array_equal(fresh.get(key(1)), code(1))
    assert fresh.stats().disk_hits == 1 and fresh.get(key(2)) is None
    cache.clear()
    assert list(folder.iterdir()) == [] and LatentCache().get(key(1)) is None
    assert LatentCache(on_disk=False).disk is None


def test_bounded_by_count_and_bytes_least_recently_used_first(temp_root: Path) -> None:
    disk = DiskLatents(max_entries=3, max_bytes=10 << 20)
    folder = temp_root / FOLDER_NAME
    now = time.time()
    for n in range(3):
        disk.put(key(n), code(n))
        os.utime(folder / disk.file_name(key(n)), (now - 100 + n, now - 100 + n))
    assert disk.get(key(0)) is not None  # used again: now the most recent
    disk.put(key(3), code(3))
    assert disk.prune() == 1 and disk.count() == 3
    assert disk.get(key(1)) is None  # the least recently used went first
    assert all(disk.get(key(n)) is not None for n in (0, 2, 3))
    size = (folder / disk.file_name(key(0))).stat().st_size
    assert 18 * 512 * 4 < size < 18 * 512 * 4 + 256  # one W+ is 36 KiB on disk
    disk.max_bytes = 2 * size
    disk.prune()
    assert disk.count() == 2


def test_expired_or_damaged_files_are_misses_and_removed(temp_root: Path) -> None:
    disk = DiskLatents(retention_s=60)
    disk.put(key(1), code(1))
    disk.put(key(2), code(2))
    folder = temp_root / FOLDER_NAME
    old = time.time() - 120
    os.utime(folder / disk.file_name(key(1)), (old, old))
    assert disk.get(key(1)) is None and not (folder / disk.file_name(key(1))).exists()
    (folder / disk.file_name(key(2))).write_bytes(b"not a numpy file")
    assert disk.get(key(2)) is None and disk.count() == 0
    np.save(folder / disk.file_name(key(3)), np.array([1.0, np.nan], np.float32))
    assert disk.get(key(3)) is None and disk.count() == 0
    (folder / ".part-dead.npy").write_bytes(b"half")  # a writer that died
    os.utime(folder / ".part-dead.npy", (old - 1000, old - 1000))
    disk.prune()
    assert list(folder.iterdir()) == []


def test_a_folder_that_is_not_ours_is_not_used(temp_root: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (temp_root / FOLDER_NAME).symlink_to(elsewhere)
    cache = LatentCache()
    cache.put(key(1), code(1))  # kept in memory only
    assert list(elsewhere.iterdir()) == []
    np.testing.assert_array_equal(cache.get(key(1)), code(1))


def _worker_put(cache: LatentCache, k: tuple[str, str, str], value: np.ndarray) -> None:
    cache.put(k, value)  # as the GPU worker does after encoding


def test_a_forked_worker_writes_what_the_parent_reads(temp_root: Path) -> None:
    cache = LatentCache()
    ctx = multiprocessing.get_context("fork")
    # Another thread of the parent is inside the cache when ZeroGPU forks the worker: the
    # worker's copy of the lock must not stay locked.
    with cache._lock:
        worker = ctx.Process(target=_worker_put, args=(cache, key(5), code(5)))
        worker.start()
    worker.join(60)
    if worker.is_alive():
        worker.kill()
        pytest.fail("the forked worker hung on the cache's lock")
    assert worker.exitcode == 0
    assert cache.stats().size == 0  # the worker's memory died with it...
    np.testing.assert_array_equal(cache.get(key(5)), code(5))  # ...its file did not
    assert cache.stats().disk_hits == 1
