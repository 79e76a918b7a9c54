"""Encoded W+ latents, cached in memory and in the temporary folder.

Keyed by (aligned crop digest, encoder, checkpoint id): re-rendering the same
crops with another density, timing or gamma does not run the encoder again,
while another chosen face, alignment or crop size (a different crop), another
encoder or checkpoint never reuses a stale code.

On ZeroGPU every GPU call runs in a forked worker whose memory dies with it, so
the codes are also written, one small file each (36 KiB for 18 x 512), to
``<system temp>/timelapse-latents/``: the worker that encoded a face, later
workers and the main process all read them there. Nothing goes anywhere but the
temporary folder (a visitor's faces are derived data); the folder is private to
the user (0700, files 0600), holds at most ``max_entries`` files and
``max_bytes``, least recently used first out, and a code unused for
``retention_s`` (an hour, as long as the app keeps a visitor's videos) is
deleted rather than served.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

LatentKey = tuple[str, str, str]

FOLDER_NAME = "timelapse-latents"
RETENTION_S = 3600.0
_SUFFIX = ".npy"
_PART = ".part-"


def crop_digest(image: np.ndarray) -> str:
    """SHA-256 of an aligned crop's pixels and shape: what the encoder actually sees.

    The photo's own hash is not enough: the chosen face (a group photo), the
    alignment and the crop size all change the crop, and so the code.
    """
    img = np.ascontiguousarray(image)
    h = hashlib.sha256(f"{img.shape}|{img.dtype}".encode())
    h.update(memoryview(img).cast("B"))
    return h.hexdigest()


def default_folder() -> Path:
    """``<system temp>/timelapse-latents``, resolved at each use (``TMPDIR`` may change)."""
    return Path(tempfile.gettempdir()) / FOLDER_NAME


class DiskLatents:
    """Latents as ``.npy`` files in one private folder of the temporary folder.

    Shared by every process of the machine that uses the same temporary folder.
    Writes are atomic (a part file renamed into place); a damaged, foreign or
    expired file is a miss and is removed. Errors (full disk, read-only folder,
    a folder owned by someone else) only cost the cache.

    Args:
        max_entries (int): files kept. Default: 2048.
        max_bytes (int): bytes kept. Default: 80 MiB (about 2,200 W+ of 18 x 512).
        retention_s (float): a file unused this long is deleted. Default: 3600.
    """

    def __init__(
        self,
        *,
        max_entries: int = 2048,
        max_bytes: int = 80 << 20,
        retention_s: float = RETENTION_S,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.retention_s = retention_s
        self._writes_since_prune = 0
        self._last_prune = 0.0

    def folder(self, *, create: bool = False) -> Path | None:
        """The folder, or None where it is not a private directory of this user."""
        folder = default_folder()
        try:
            if create:
                folder.mkdir(mode=0o700, exist_ok=True)
            st = os.lstat(folder)
        except OSError:
            return None
        if not stat.S_ISDIR(st.st_mode):  # a link or a file in its place
            log.warning("latent cache disabled: %s is not a plain folder", folder)
            return None
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            log.warning("latent cache disabled: %s belongs to another user", folder)
            return None
        if st.st_mode & 0o077:
            try:
                os.chmod(folder, 0o700)
            except OSError:
                return None
        return folder

    @staticmethod
    def file_name(key: LatentKey) -> str:
        return hashlib.sha256("\0".join(("v1", *key)).encode()).hexdigest() + _SUFFIX

    def get(self, key: LatentKey) -> np.ndarray | None:
        """The stored latent (a [n_latent, style_dim] float32 array), or None."""
        folder = self.folder()
        if folder is None:
            return None
        path = folder / self.file_name(key)
        try:
            if time.time() - path.stat().st_mtime > self.retention_s:
                path.unlink(missing_ok=True)
                return None
            value = np.load(path, allow_pickle=False)
            os.utime(path)  # recently used: kept longest
        except FileNotFoundError:
            return None
        except Exception as exc:  # damaged, truncated, or not ours
            log.warning("ignoring unreadable latent cache file %s: %s", path, exc)
            path.unlink(missing_ok=True)
            return None
        if value.dtype != np.float32 or value.ndim != 2 or not np.isfinite(value).all():
            log.warning("ignoring latent cache file %s: %s %s", path, value.dtype, value.shape)
            path.unlink(missing_ok=True)
            return None
        return value

    def put(self, key: LatentKey, value: np.ndarray) -> None:
        """Store `value` atomically under `key`, then keep the folder within its bounds."""
        folder = self.folder(create=True)
        if folder is None:
            return
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=_PART, suffix=_SUFFIX)
            with os.fdopen(fd, "wb") as f:
                np.save(f, np.asarray(value, dtype=np.float32), allow_pickle=False)
            os.replace(tmp, folder / self.file_name(key))
            tmp = None
        except OSError as exc:
            log.warning("could not write a latent cache file in %s: %s", folder, exc)
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
        self._writes_since_prune += 1
        if self._writes_since_prune >= 32 or time.monotonic() - self._last_prune > 60:
            self.prune()

    def prune(self) -> int:
        """Delete expired files and the least recently used beyond the bounds; returns how many."""
        self._writes_since_prune = 0
        self._last_prune = time.monotonic()
        folder = self.folder()
        if folder is None:
            return 0
        now = time.time()
        files: list[tuple[float, int, Path]] = []
        doomed: list[Path] = []
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    path = Path(entry.path)
                    if entry.name.startswith(_PART):
                        if now - st.st_mtime > 600:  # left by a writer that died
                            doomed.append(path)
                    elif entry.name.endswith(_SUFFIX):
                        if now - st.st_mtime > self.retention_s:
                            doomed.append(path)
                        else:
                            files.append((st.st_mtime, st.st_size, path))
        except OSError:
            return 0
        files.sort()  # oldest use first
        total = sum(size for _, size, _ in files)
        while files and (len(files) > self.max_entries or total > self.max_bytes):
            _, size, path = files.pop(0)
            total -= size
            doomed.append(path)
        for path in doomed:
            path.unlink(missing_ok=True)
        return len(doomed)

    def clear(self) -> None:
        """Delete every stored latent of the folder."""
        folder = self.folder()
        if folder is None:
            return
        for path in folder.iterdir():
            if path.name.endswith(_SUFFIX):
                path.unlink(missing_ok=True)

    def count(self) -> int:
        """Latent files stored now."""
        folder = self.folder()
        if folder is None:
            return 0
        names = (p.name for p in folder.iterdir())
        return sum(1 for n in names if n.endswith(_SUFFIX) and not n.startswith(_PART))


@dataclass
class CacheStats:
    """Counters since the process started (or the last clear).

    Attributes:
        hits (int): lookups answered from the cache (memory or disk).
        misses (int): lookups that needed the encoder.
        size (int): entries held in memory.
        disk_hits (int): of the hits, those read from the temporary folder.
    """

    hits: int
    misses: int
    size: int
    disk_hits: int = 0


_caches: weakref.WeakSet[LatentCache] = weakref.WeakSet()


class LatentCache:
    """A thread-safe LRU map from :data:`LatentKey` to a [n_latent, 512] float32 array,
    backed by a :class:`DiskLatents` (the codes other processes encoded).

    Args:
        max_entries (int): entries kept in memory (each is 36 KiB at 18 x 512). Default: 2048.
        on_disk (bool): also store and look up codes in the temporary folder. Default: True.
    """

    def __init__(self, max_entries: int = 2048, *, on_disk: bool = True) -> None:
        self.max_entries = max_entries
        self.disk = DiskLatents() if on_disk else None
        self._data: OrderedDict[LatentKey, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = self._disk_hits = 0
        _caches.add(self)

    def _reset_lock(self) -> None:
        self._lock = threading.Lock()

    def get(self, key: LatentKey) -> np.ndarray | None:
        """The cached latent (a read-only array), or None."""
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
                self._hits += 1
                return value
        stored = self.disk.get(key) if self.disk is not None else None
        with self._lock:
            if stored is None:
                self._misses += 1
                return None
            self._hits += 1
            self._disk_hits += 1
            return self._remember(key, stored)

    def put(self, key: LatentKey, value: np.ndarray) -> None:
        """Store a latent (copied, made read-only), in memory and on disk."""
        with self._lock:
            arr = self._remember(key, value)
        if self.disk is not None:
            self.disk.put(key, arr)

    def _remember(self, key: LatentKey, value: np.ndarray) -> np.ndarray:
        arr = np.array(value, dtype=np.float32, copy=True)
        arr.setflags(write=False)
        self._data[key] = arr
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)
        return arr

    def clear(self) -> None:
        """Forget every latent, in memory and on disk, and reset the counters."""
        with self._lock:
            self._data.clear()
            self._hits = self._misses = self._disk_hits = 0
        if self.disk is not None:
            self.disk.clear()

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._data), self._disk_hits)


def _after_fork_in_child() -> None:
    """A forked child (a ZeroGPU worker) gets fresh locks: a thread of the parent that held
    one does not exist there, so the copied lock might never open."""
    for cache in list(_caches):
        cache._reset_lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# The process-wide cache the StyleGAN method uses.
LATENT_CACHE = LatentCache()
