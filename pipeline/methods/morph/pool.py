"""Frames computed ahead on a small thread pool and handed out in order.

The morph's per-frame work is OpenCV calls that release the GIL, and at
512 px each call is too small for OpenCV's own threads to keep two cores
busy; working on the next frames while the caller takes the current one
does. At most ``workers + 1`` frames are in flight, so memory stays a few
frames whatever the transition's length.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from pipeline.allocator import retain_freed_memory

_POOL: ThreadPoolExecutor | None = None
_LOCK = threading.Lock()


def workers() -> int:
    """Threads of the frame pool: the usable cores, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist: start a new pool there when needed."""
    global _POOL, _LOCK
    _POOL, _LOCK = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


def _pool() -> ThreadPoolExecutor:
    global _POOL
    retain_freed_memory()  # frames' arrays are reused instead of faulted in afresh
    with _LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=workers(), thread_name_prefix="morph-frame")
        return _POOL


def ordered_frames(frame: Callable[[int], np.ndarray], count: int) -> Iterator[np.ndarray]:
    """Yield ``frame(0) .. frame(count - 1)`` in order, computing the next ones ahead.

    With one usable core (or one frame) the frames are computed in the caller's
    thread. An error in any frame is raised when that frame's turn comes.
    """
    n = workers()
    if n == 1 or count <= 1:
        retain_freed_memory()
        for i in range(count):
            yield frame(i)
        return
    pool = _pool()
    ahead = n + 1  # one frame waiting per worker busy, and the one being handed out
    pending: deque[Future[np.ndarray]] = deque()
    submitted = 0
    try:
        while submitted < count or pending:
            while submitted < count and len(pending) < ahead:
                pending.append(pool.submit(frame, submitted))
                submitted += 1
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
