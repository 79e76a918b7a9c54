"""Per-process cache of encoded W+ latents.

Keyed by (aligned crop digest, encoder, checkpoint id): re-rendering the same
crops with another density, timing or gamma does not run the encoder again,
while another chosen face, alignment or crop size (a different crop), another
encoder or checkpoint never reuses a stale code.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

LatentKey = tuple[str, str, str]


def crop_digest(image: np.ndarray) -> str:
    """SHA-256 of an aligned crop's pixels and shape: what the encoder actually sees.

    The photo's own hash is not enough: the chosen face (a group photo), the
    alignment and the crop size all change the crop, and so the code.
    """
    img = np.ascontiguousarray(image)
    h = hashlib.sha256(f"{img.shape}|{img.dtype}".encode())
    h.update(memoryview(img).cast("B"))
    return h.hexdigest()


@dataclass
class CacheStats:
    """Counters since the process started (or the last clear).

    Attributes:
        hits (int): lookups answered from the cache.
        misses (int): lookups that needed the encoder.
        size (int): entries held.
    """

    hits: int
    misses: int
    size: int


class LatentCache:
    """A thread-safe LRU map from :data:`LatentKey` to a [n_latent, 512] float32 array.

    Args:
        max_entries (int): entries kept (each is 36 KiB at 18 x 512). Default: 2048.
    """

    def __init__(self, max_entries: int = 2048) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[LatentKey, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get(self, key: LatentKey) -> np.ndarray | None:
        """The cached latent (a read-only array), or None."""
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self._misses += 1
                return None
            self._data.move_to_end(key)
            self._hits += 1
            return value

    def put(self, key: LatentKey, value: np.ndarray) -> None:
        """Store a latent (copied, made read-only)."""
        arr = np.array(value, dtype=np.float32, copy=True)
        arr.setflags(write=False)
        with self._lock:
            self._data[key] = arr
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        """Forget every latent and reset the counters."""
        with self._lock:
            self._data.clear()
            self._hits = self._misses = 0

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._data))


# The process-wide cache the StyleGAN method uses.
LATENT_CACHE = LatentCache()
