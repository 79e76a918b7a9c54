"""One PyTorch thread for the small face networks, whatever the process's setting.

The face networks (dlib's identity ResNet and its MMOD detector, both ported
to PyTorch) run on small inputs that are not worth splitting across cores:
with two threads, on a machine where anything else runs, one photo's
descriptors took 250 ms instead of 13 (threads waiting on each other).
Parallelism comes from the scan's worker processes instead.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch

_lock = threading.Lock()
_users = 0
_before = 0


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the enclosed PyTorch work on one thread, then restore the process's setting.

    The setting is process-wide, so every caller (both networks, any thread)
    shares one switch: the first sets it, the last restores what was there.
    """
    global _users, _before
    with _lock:
        if _users == 0:
            _before = torch.get_num_threads()
            if _before != 1:
                torch.set_num_threads(1)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _before != 1:
                torch.set_num_threads(_before)
