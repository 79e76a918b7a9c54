"""Keep freed memory in the process instead of handing it back at once.

Every frame of a render allocates and frees arrays of a few megabytes. With
glibc's default settings the top of the heap is trimmed, and arrays over the
(dynamic) mmap threshold are mapped afresh, as soon as they are freed, so
the next frame's arrays fault every page in again: on a virtual machine those
page faults cost more than the image operations themselves (the morph with a
matte ran at about 65 instead of over 100 frames/s at 512 px on 2 cores). Raising
the trim threshold and the top pad keeps up to a bounded amount of freed
memory for reuse; memory that stays free beyond it is still returned.

Only glibc (Linux) has these knobs; elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading

log = logging.getLogger(__name__)

# mallopt parameter numbers (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

# Arrays up to this size come from the heap (a 1024 px float RGBA frame is 16 MiB;
# glibc's own ceiling for the dynamic threshold is 32 MiB on 64-bit machines).
MMAP_THRESHOLD = 32 << 20
# Freed memory at the top of a heap kept for reuse, and extra asked for each time
# a heap grows: a few frames' worth of arrays.
TRIM_THRESHOLD = 256 << 20
TOP_PAD = 64 << 20

_done = False
_lock = threading.Lock()


def retain_freed_memory() -> bool:
    """Apply the settings above once per process; True when glibc took them."""
    global _done
    with _lock:
        if _done:
            return True
        _done = True
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            return False
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        mallopt.restype = ctypes.c_int
        ok = all(
            mallopt(param, value) == 1
            for param, value in (
                (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
                (_M_TOP_PAD, TOP_PAD),
            )
        )
        if not ok:
            log.debug("mallopt refused the allocator settings")
        return ok
