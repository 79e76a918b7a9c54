"""Scans kept in memory, keyed by the album's content, so edits never rescan.

Reading photos and finding faces is the slow part of the analysis; choosing
the target, dating and ordering (`finalize`) is cheap. The app scans an album
once and finalizes it again for every edit, birth-date change or render. The
key is a hash of the photos' names and bytes (and the detector choice), so the
same files give the same scan from the UI, the API or another visitor, and
nothing depends on where Gradio stored the upload.

Entries expire after a while and the cache holds a few albums at most
(aligned crops only, never full photos): photos are not kept.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pipeline.photos import PhotoSource
from pipeline.sizes import SCAN_SIZE
from pipeline.types import Analysis
from pipeline.webapp.files import file_digest

log = logging.getLogger(__name__)


def album_key(sources: list[PhotoSource], *, use_cnn: bool = False, extra: str = "") -> str:
    """Content key of an album: names, bytes, detector choice and `extra`
    (a digest of per-file metadata such as dates and credits of photos found by name)."""
    h = hashlib.sha256(f"scan={SCAN_SIZE};cnn={int(use_cnn)};extra={extra}".encode())
    for s in sources:
        if s.path is not None:
            try:
                digest = file_digest(s.path)
            except OSError:
                digest = f"unreadable:{s.path}"
        elif isinstance(s.data, bytes):
            digest = hashlib.sha256(s.data).hexdigest()
        else:
            digest = f"object:{id(s.data)}"  # in-memory images: never shared
        h.update(f"\0{s.name}\0{digest}".encode())
    return h.hexdigest()


@dataclasses.dataclass
class _Entry:
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    analysis: Analysis | None = None
    used: float = 0.0
    users: int = 0


class ScanCache:
    """A small LRU of scanned albums with per-album locks.

    `use` yields the shared scan with its lock held, so `finalize` never runs
    twice at once on one album (it leaves the scan's records as they are, but
    adds the crops and ages of faces the scan did not align to its state).

    Args:
        max_entries (int): albums kept at most.
        ttl_s (float): seconds an unused album is kept.
    """

    def __init__(self, max_entries: int = 8, ttl_s: float = 3600.0) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.scans = 0  # how many scans ran (tests and benchmarks read it)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            e = self._entries.get(key)
            return e is not None and e.analysis is not None

    @contextmanager
    def use(self, key: str, scan: Callable[[], Analysis]) -> Iterator[Analysis]:
        """Yield the album's scan (running `scan` on a miss) with its lock held."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
            self._entries.move_to_end(key)
            entry.users += 1
        try:
            with entry.lock:
                if entry.analysis is None:
                    entry.analysis = scan()
                    self.scans += 1
                entry.used = time.monotonic()
                yield entry.analysis
        finally:
            with self._lock:
                entry.users -= 1
                if entry.analysis is None and entry.users == 0 and self._entries.get(key) is entry:
                    del self._entries[key]  # the scan failed: nothing to keep
                self._evict()

    def clear(self) -> None:
        with self._lock:
            for key in [k for k, e in self._entries.items() if e.users == 0]:
                del self._entries[key]

    def _evict(self) -> None:
        """Drop expired albums, then the least recently used beyond `max_entries` (never one in use)."""
        now = time.monotonic()
        for key in [
            k for k, e in self._entries.items() if e.users == 0 and now - e.used > self.ttl_s
        ]:
            del self._entries[key]
        idle = [k for k, e in self._entries.items() if e.users == 0]
        while len(self._entries) > self.max_entries and idle:
            del self._entries[idle.pop(0)]


def snapshot(analysis: Analysis) -> Analysis:
    """A copy of an analysis whose records can be changed without changing `analysis`'s
    (e.g. to add credits before a render).

    Records are copied shallowly: aligned crops and faces are shared, read-only.
    """
    return dataclasses.replace(
        analysis,
        photos=[copy.copy(p) for p in analysis.photos],
        timings=dict(analysis.timings),
    )
